// Package blobmerge merges two versions of a flow's cache blob that is a
// JSON object of sections, each section an object of entries keyed by id
// (MSAL's cache has this shape). It knows no section names: the host uses
// it to settle a lost race on a protocol-3 cache update without reading
// the flow's format, and msalcache uses it for MSAL's blobs.
package blobmerge

import (
	"encoding/json"
	"errors"
)

// Merge unions theirs (the stored blob) and ours (the one being saved):
// every top-level field of both, ours winning, and where both hold an
// object under the same field, every entry of both, ours winning on the
// same id. A theirs that is empty or not a JSON object counts as empty;
// an ours that is not a JSON object is an error.
func Merge(theirs, ours []byte) ([]byte, error) {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(ours, &o); err != nil {
		return nil, errors.New("our cache is not a JSON object")
	}
	var t map[string]json.RawMessage
	if len(theirs) > 0 {
		_ = json.Unmarshal(theirs, &t) // a corrupt stored blob is replaced by ours
	}
	out := make(map[string]json.RawMessage, len(o)+len(t))
	for k, v := range t {
		out[k] = v
	}
	for k, ov := range o {
		out[k] = ov
		tv, both := t[k]
		if !both {
			continue
		}
		var ts, os map[string]json.RawMessage
		if json.Unmarshal(tv, &ts) != nil || json.Unmarshal(ov, &os) != nil || ts == nil || os == nil {
			continue // not two objects: ours stands
		}
		for id, e := range os {
			ts[id] = e
		}
		raw, err := json.Marshal(ts)
		if err != nil {
			return nil, err
		}
		out[k] = raw
	}
	return json.Marshal(out)
}
