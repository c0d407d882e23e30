package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/credhost/credhost/core"
)

// Why failures are shared.
//
// Callers of one token wait for each other (flights in a process, the
// store's sign-in lock across processes) and take the first one's token
// from the cache. A failure left nothing in the cache, so each waiter
// used to ask the IdP in turn: with the token endpoint down and 200
// processes waiting (kubectl, a build), the last one failed after 200
// retry sequences (192 s). Now the lock's holder that failed records its
// answer in the store, next to the tokens, for a few seconds; a process
// that was already waiting when it failed finds it there and fails the
// same way at once. So one outage costs one retry sequence for all the callers
// that came together, however many there are.

// OutcomeKeyPrefix starts the Store keys of shared failures.
const OutcomeKeyPrefix = "outcome|"

// sharedFailureTTL is how long a failure is shared. It is short: long
// enough for the callers that were waiting with it to read it, and well
// under the time after which asking again is worth it. (A Retry-After
// does not reach the host through the plugin protocol; the retrying
// transport waits for the short ones itself, so the failure it returns
// comes after them.)
const sharedFailureTTL = 5 * time.Second

// outcomes records and reads shared failures in the host's Store. Its
// entries are sealed like every entry of a persistent store, and hold
// only what an error shows (core.Error's text holds no secret).
type outcomes struct {
	store core.Cache
	now   func() time.Time
}

// failureRecord is one shared failure, as stored.
type failureRecord struct {
	Kind          core.Kind `json:"kind"`
	Flow          string    `json:"flow,omitempty"`
	Code          int       `json:"code,omitempty"`
	OAuthCode     string    `json:"oauth_code,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	Hint          string    `json:"hint,omitempty"`
	Msg           string    `json:"msg"`
	At            time.Time `json:"at"`
	Until         time.Time `json:"until"`
}

func outcomeKey(flightKey string) string {
	sum := sha256.Sum256([]byte(flightKey))
	return OutcomeKeyPrefix + hex.EncodeToString(sum[:16])
}

// shareable reports whether err, returned while ctx was still live, is
// the answer every caller of the same request would get. Only failures
// are: a flow that is unavailable or needs interaction may be fine for a
// caller with a terminal or a browser, and a call its own caller
// cancelled says nothing about the IdP.
func shareable(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && core.KindOf(err) == core.KindFailed
}

// record stores err as the outcome of the request key for
// sharedFailureTTL. A store that cannot take it costs only the sharing.
func (o *outcomes) record(ctx context.Context, key string, err error) {
	now := o.now()
	r := failureRecord{Kind: core.KindOf(err), Msg: err.Error(), At: now, Until: now.Add(sharedFailureTTL)}
	if ce, ok := err.(*core.Error); ok && ce.Err != nil {
		// Kept apart, so that the shared error reads like the original.
		r.Flow, r.Code, r.OAuthCode, r.CorrelationID, r.Hint, r.Msg = ce.Flow, ce.Code, ce.OAuthCode, ce.CorrelationID, ce.Hint, ce.Err.Error()
	}
	data, jerr := json.Marshal(r)
	if jerr != nil {
		return
	}
	k := outcomeKey(key)
	for range 3 { // another process may be recording its own
		old, lerr := o.store.Load(ctx, k)
		if lerr != nil {
			return
		}
		if _, serr := o.store.Save(ctx, k, core.Blob{Data: data, Version: old.Version, ExpiresOn: r.Until}); !errors.Is(serr, core.ErrCacheConflict) {
			return
		}
	}
}

// lookup returns the failure recorded for the request key if it is
// still to be shared and happened after since, when the caller started
// waiting; else nil. A caller never takes a failure older than its own
// call: one who asks again (after fixing a secret, say) asks the IdP.
func (o *outcomes) lookup(ctx context.Context, key string, since time.Time) error {
	b, err := o.store.Load(ctx, outcomeKey(key))
	if err != nil || len(b.Data) == 0 {
		return nil
	}
	var r failureRecord
	if json.Unmarshal(b.Data, &r) != nil {
		return nil
	}
	now := o.now()
	if !now.Before(r.Until) || r.At.Before(since) || r.At.After(now) {
		return nil
	}
	return &core.Error{Kind: r.Kind, Flow: r.Flow, Code: r.Code, OAuthCode: r.OAuthCode, CorrelationID: r.CorrelationID, Hint: r.Hint,
		Err: &SharedFailureError{Msg: r.Msg, Age: now.Sub(r.At)}}
}

// SharedFailureError is a failure another caller of the same request got
// moments ago (in this process or another): it was not asked of the IdP
// again.
type SharedFailureError struct {
	// Msg is the original error's text.
	Msg string
	// Age is how long ago it happened.
	Age time.Duration
}

func (e *SharedFailureError) Error() string {
	return fmt.Sprintf("%s [the caller this one waited for got this answer %s ago; it is shared rather than asked of the IdP again]",
		e.Msg, e.Age.Round(time.Millisecond))
}
