// Command credhost-plugin-azurecli serves the Azure CLI flow: a token from
// the user's existing `az login`, through `az account get-access-token`,
// the contract azidentity's AzureCLICredential uses.
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
