package core

import (
	"encoding/json"
	"fmt"
)

func fmtAll(s Secret) string {
	j, _ := json.Marshal(struct{ S Secret }{s})
	t := Token{AccessToken: s}
	return fmt.Sprintf("%v %+v %#v %s %q %x %d", s, t, t, s, s, s, s) + string(j)
}
