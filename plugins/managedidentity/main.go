// Command credhost-plugin-managedidentity serves the managed identity flow:
// a token for the identity of the Azure resource the process runs on, from
// whichever source MSAL finds there (IMDS on VMs, scale sets and AKS
// nodes, App Service and Functions, Azure Arc, Cloud Shell, Service
// Fabric, Azure ML).
package main

import "github.com/credhost/credhost/sdk"

func main() { sdk.Serve(newFlow()) }
