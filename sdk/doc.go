// Package sdk is credhost for plugin authors: a plugin serves its flow
// with Serve, and everything a flow needs (Flow, TokenRequest, Token,
// errors and their kinds, Checker, CanPrompt, NoUI, MemoryCache, Chain) is
// here, re-exported from core, so a plugin imports only sdk (and its
// helper packages sdk/msalerr, sdk/plugintest). A plugin binary built
// against sdk links no host, config loader or token store.
//
// Programs that embed credhost (get a token for a profile, as the CLI
// does) import sdk/client instead, and sdk for the types both share.
package sdk
