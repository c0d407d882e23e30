// Command credhost-plugin-authcode serves the authorization code flow. In
// the interactive mode (the default) the user signs in in a browser on
// this machine, which hands the code back to a loopback listener; later
// tokens come silently from the refresh token. With mode = "webapp" it is
// a web app's confidential client (client credentials as for
// clientcreds): it redeems the codes the web app's own sign-in pages
// receive (sdk/webapp.CredentialRedeemer), caching each user's tokens in
// a host cache partition of their own, and answers later requests for
// that user (TokenRequest.Account = home account id) silently.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
