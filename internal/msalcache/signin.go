package msalcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/credhost/credhost/core"
)

// RecordSignIn saves the core.SignInRecord of the MSAL cache under key
// (the accounts it holds and whether it holds a refresh token) under
// key + core.SignInSuffix, in the store of ctx (WithStore), so that the
// host can list sign-ins without parsing MSAL's cache. Public-client flows
// call it after each successful sign-in, silent or interactive. It writes
// only when the record changed, so a sign-in that changes nobody costs
// two loads. Without a store in ctx it does nothing.
func RecordSignIn(ctx context.Context, key string) error {
	store, _ := ctx.Value(storeKey{}).(core.Cache)
	if store == nil {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	rkey := key + core.SignInSuffix
	for range DefaultMaxRetries {
		// The record is read before the state, so a record saved by
		// another process after it is seen as a conflict below and ours
		// is derived again from the newer state.
		cur, err := store.Load(ctx, rkey)
		if err != nil {
			return fmt.Errorf("msalcache: load the sign-in record: %w", err)
		}
		state, err := store.Load(ctx, key)
		if err != nil {
			return fmt.Errorf("msalcache: load the token cache for its sign-in record: %w", err)
		}
		data, err := signInRecord(state.Data)
		if err != nil {
			return err
		}
		if slices.Equal(cur.Data, data) {
			return nil
		}
		_, err = store.Save(ctx, rkey, core.Blob{Data: data, Version: cur.Version})
		if err == nil {
			return nil
		}
		if !errors.Is(err, core.ErrCacheConflict) {
			return fmt.Errorf("msalcache: save the sign-in record: %w", err)
		}
	}
	return fmt.Errorf("msalcache: save the sign-in record: %w", core.ErrCacheConflict)
}

// signInRecord is the JSON record of an MSAL cache blob.
func signInRecord(blob []byte) ([]byte, error) {
	accounts, refresh := Accounts(blob)
	if accounts == nil {
		accounts = []core.Account{}
	}
	data, err := json.Marshal(core.SignInRecord{Accounts: accounts, CanRefresh: refresh})
	if err != nil {
		return nil, fmt.Errorf("msalcache: encode the sign-in record: %w", err)
	}
	return data, nil
}
