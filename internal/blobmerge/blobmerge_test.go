package blobmerge

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name         string
		theirs, ours string
		want         string
		wantErr      bool
	}{
		{name: "theirs empty", theirs: "", ours: `{"AccessToken":{"a":1}}`, want: `{"AccessToken":{"a":1}}`},
		{name: "theirs corrupt", theirs: "garbage", ours: `{"IdToken":{"i":1}}`, want: `{"IdToken":{"i":1}}`},
		{name: "union, ours wins", theirs: `{"AccessToken":{"a":1,"b":1},"AppMetadata":{"m":1}}`, ours: `{"AccessToken":{"b":2,"c":2}}`,
			want: `{"AccessToken":{"a":1,"b":2,"c":2},"AppMetadata":{"m":1}}`},
		{name: "unknown fields kept, ours wins", theirs: `{"X":1,"Y":1}`, ours: `{"Y":2}`, want: `{"X":1,"Y":2}`},
		{name: "ours corrupt", theirs: `{}`, ours: `nope`, wantErr: true},
		{name: "object under a field of theirs, a value in ours", theirs: `{"A":{"x":1}}`, ours: `{"A":2}`, want: `{"A":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Merge([]byte(tt.theirs), []byte(tt.ours))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Merge() = %s, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			_ = json.Unmarshal(got, &g)
			_ = json.Unmarshal([]byte(tt.want), &w)
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("Merge() = %s, want %s", got, tt.want)
			}
		})
	}
}
