// Command credhost-plugin-clientcreds serves the client-credentials flow:
// an application signs in as itself with a secret, a certificate, a signed
// assertion or a federated (workload identity) token.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
