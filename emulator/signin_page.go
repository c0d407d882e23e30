package emulator

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The emulator's HTML pages: the sign-in page of the authorization
// endpoint, the form_post page that carries a code back to the app, the
// device code verification page and an error page. With
// Options.AutoSignIn the pages fill in and submit themselves for that
// user, so a headless browser can complete a sign-in unattended.

var pages = template.Must(template.New("layout").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}} · credhost emulator</title>
<style>body{font-family:system-ui,sans-serif;max-width:28em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}label{display:block;margin:.8em 0 .2em}input{width:100%;padding:.4em;box-sizing:border-box}
button{margin-top:1em;padding:.5em 1.5em}.err{color:#a00}.note{color:#666;font-size:.9em}</style></head><body>
<p class="note">credhost Entra ID emulator: not a real identity provider.</p>{{end}}

{{define "signin"}}{{template "head" .}}
<h1>Sign in</h1>
<p>to <b>{{.App}}</b></p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form id="f" method="post" action="{{.Action}}">
<input type="hidden" name="sign_in" value="{{.SignIn}}">
<label for="username">Username</label><input id="username" name="username" value="{{.Username}}" autocomplete="username">
{{if .Auto}}<input type="hidden" name="auto" value="1">
{{else}}<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">{{end}}
<button type="submit">Sign in</button>
</form>
{{if .Auto}}<script nonce="{{.Nonce}}">document.getElementById("f").submit();</script>{{end}}
</body></html>{{end}}

{{define "formpost"}}{{template "head" .}}
<p>Signing you in to the application…</p>
<form id="f" method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="{{.Nonce}}">document.getElementById("f").submit();</script>
</body></html>{{end}}

{{define "devicelogin"}}{{template "head" .}}
<h1>Enter code</h1>
<p>Enter the code shown on your device and sign in to allow access.</p>
{{if .Error}}<p class="err" role="alert">{{.Error}}</p>{{end}}
<form id="f" method="post" action="/devicelogin">
<label for="code">Code</label><input id="code" name="code" value="{{.Code}}" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" value="{{.Username}}" autocomplete="username">
{{if .Auto}}<input type="hidden" name="auto" value="1">
{{else}}<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password">{{end}}
<button type="submit">Sign in</button>
</form>
</body></html>{{end}}

{{define "done"}}{{template "head" .}}
<h1>{{.Title}}</h1><p>{{.Message}}</p>
</body></html>{{end}}

{{define "error"}}{{template "head" .}}
<h1>Sorry, but we're having trouble signing you in.</h1>
<p class="err">{{.Message}}</p>
</body></html>{{end}}
`))

// field is one hidden input of the form_post page.
type field struct{ Name, Value string }

// renderPage writes an HTML page with headers that keep it out of caches
// and frames and allow only its own inline script.
func renderPage(w http.ResponseWriter, status int, name string, data map[string]any) {
	nonce := randomToken(16)
	data["Nonce"] = nonce
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+nonce+"'")
	w.WriteHeader(status)
	_ = pages.ExecuteTemplate(w, name, data)
}

// signInPage shows the sign-in form for the pending sign-in id.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, id string, in *signInRec, errMsg string) {
	username, auto := in.loginHint, false
	if s.opts.AutoSignIn != "" && errMsg == "" {
		username, auto = s.opts.AutoSignIn, true
	}
	app := in.app.Name
	if app == "" {
		app = in.app.ClientID
	}
	renderPage(w, http.StatusOK, "signin", map[string]any{
		"Title": "Sign in", "App": app, "Action": r.URL.Path, "SignIn": id,
		"Username": username, "Auto": auto, "Error": errMsg,
	})
}

// formPostPage sends v to action with an auto-submitting form
// (response_mode=form_post), so the code never appears in a URL.
func (s *Server) formPostPage(w http.ResponseWriter, action string, v url.Values) {
	var fields []field
	for _, k := range []string{"code", "state", "error", "error_description", "error_codes", "suberror", "claims", "correlation_id", "trace_id"} {
		if val := v.Get(k); val != "" {
			fields = append(fields, field{k, val})
		}
	}
	renderPage(w, http.StatusOK, "formpost", map[string]any{"Title": "Signing in", "Action": action, "Fields": fields})
}

// errorPage shows an error that cannot go back to the app.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, e *aadError) {
	infoFrom(r.Context()).aadsts = e.code
	status := e.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	renderPage(w, status, "error", map[string]any{"Title": "Error", "Message": "AADSTS" + strconv.Itoa(e.code) + ": " + e.desc})
}

// handleDeviceLogin serves the verification page of the device code flow:
// GET shows the form, POST checks the code and the credentials and
// approves the code.
func (s *Server) handleDeviceLogin(w http.ResponseWriter, r *http.Request) {
	auto := s.opts.AutoSignIn != ""
	data := map[string]any{"Title": "Enter code", "Username": s.opts.AutoSignIn, "Auto": auto}
	if r.Method != http.MethodPost {
		data["Code"] = r.URL.Query().Get("otc")
		renderPage(w, http.StatusOK, "devicelogin", data)
		return
	}
	code := strings.TrimSpace(r.PostForm.Get("code"))
	username := strings.TrimSpace(r.PostForm.Get("username"))
	vouched := r.PostForm.Get("auto") == "1" && auto && strings.EqualFold(username, s.opts.AutoSignIn)
	if err := s.approveDeviceCode(code, username, r.PostForm.Get("password"), vouched); err != nil {
		data["Code"], data["Username"], data["Error"] = code, username, err.Error()
		renderPage(w, http.StatusOK, "devicelogin", data)
		return
	}
	renderPage(w, http.StatusOK, "done", map[string]any{"Title": "Signed in",
		"Message": "You have signed in on your device. You may now close this window."})
}
