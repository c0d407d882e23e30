package config_test

import (
	"fmt"

	"github.com/credhost/credhost/core/config"
)

func ExampleParse() {
	_, err := config.Parse("config.toml", []byte(`
[profiles.ci]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
clientid  = "11111111-1111-4111-8111-111111111111"
chain     = "clientcreds"
timeout   = 30
`))
	fmt.Println(err)
	// Output:
	// config.toml:2:1: profiles.ci.client_id: missing: set client_id = "<application (client) id>" in the profile or in [defaults]
	// config.toml:4:1: profiles.ci.clientid: unknown key; did you mean "client_id"?
	// config.toml:5:1: profiles.ci.chain: expected an array of flow ids, got a string: write chain = ["clientcreds"]
	// config.toml:6:1: profiles.ci.timeout: expected a string (a duration like "30s" or "2m"), got an integer
}

func ExampleProfile_ApplyEnv() {
	f, _ := config.Parse("config.toml", []byte(`
[profiles.ci]
authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
client_id = "11111111-1111-4111-8111-111111111111"
chain     = ["clientcreds"]
`))
	p, _ := f.Profile("ci")
	env := map[string]string{"AZURE_TENANT_ID": "fabrikam.onmicrosoft.com", "AZURE_CLIENT_SECRET": "s3cret"}
	if err := p.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		fmt.Println(err)
	}
	fmt.Println(p.Authority.Raw, "from", p.Authority.Origin)
	fmt.Println(p.ClientID.Raw, "from", p.ClientID.Origin)
	secret := p.Flows["clientcreds"]["client_secret"]
	fmt.Println(secret.Raw, "from", secret.Origin)
	// Output:
	// https://login.microsoftonline.com/fabrikam.onmicrosoft.com from env AZURE_TENANT_ID
	// 11111111-1111-4111-8111-111111111111 from config.toml:4:1
	// env:AZURE_CLIENT_SECRET from env AZURE_CLIENT_SECRET
}
