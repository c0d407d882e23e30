package core

// SignInSuffix ends the cache sub-key of a SignInRecord: a flow that
// keeps state under sub-key k keeps the record of who signed in under
// k + SignInSuffix, in the same partition.
const SignInSuffix = "#signin"

// SignInRecord is what a flow that signs people in saves beside its own
// (opaque) state so that the host can say who is signed in (`credhost
// accounts`) without reading that state. It holds no token. A flow saves
// it as JSON under SignInSuffix after each sign-in that changed it; state
// saved by an older flow has no record and is not listed until the flow
// next saves.
type SignInRecord struct {
	// Accounts are the accounts the state holds, sorted by username.
	Accounts []Account `json:"accounts"`
	// CanRefresh says the state lets the flow get a token without the
	// user (it holds a refresh token).
	CanRefresh bool `json:"can_refresh"`
}
