package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/credhost/credhost/core"
	"github.com/credhost/credhost/internal/boundedio"
)

// ResolveSecret dereferences a secret setting:
//
//   - "env:NAME" is the value of the variable NAME, which must be set and
//     not empty;
//   - "file:PATH" is the content of the file, with trailing newlines
//     trimmed; a relative PATH is relative to baseDir (the config file's
//     directory), and a leading ~ is the home directory;
//   - anything else is the secret itself, written inline.
//
// A nil getenv means os.Getenv. Errors are *Error placed at v's origin;
// they name the variable or the file, never the secret.
func ResolveSecret(v Value, getenv Env, baseDir string) (core.Secret, error) {
	b, err := resolve(v, getenv, baseDir)
	if err != nil {
		return core.Secret{}, err
	}
	s := string(b)
	if strings.HasPrefix(v.Raw, "file:") {
		s = strings.TrimRight(s, "\r\n")
		if s == "" {
			return core.Secret{}, &Error{Origin: v.Origin, Msg: fmt.Sprintf("secret file %s holds nothing but newlines: write the secret into it", secretPath(v.Raw, baseDir))}
		}
	}
	return core.NewSecret(s), nil
}

// ResolveBytes is ResolveSecret for binary secrets (a PFX or PEM
// certificate): the same references, but a file's bytes are returned as
// they are, without trimming.
func ResolveBytes(v Value, getenv Env, baseDir string) ([]byte, error) {
	return resolve(v, getenv, baseDir)
}

func resolve(v Value, getenv Env, baseDir string) ([]byte, error) {
	fail := func(format string, args ...any) error {
		return &Error{Origin: v.Origin, Msg: fmt.Sprintf(format, args...)}
	}
	if v.IsList() {
		return nil, fail("expected one secret (inline, env:NAME or file:PATH), got an array")
	}
	if name, ok := strings.CutPrefix(v.Raw, "env:"); ok {
		if !validEnvName(name) {
			// Not echoed: it may be the secret itself, pasted after "env:".
			return nil, fail("env: must be followed by a variable name (letters, digits and '_'), like env:CLIENT_SECRET")
		}
		s := getenv.get(name)
		if s == "" {
			return nil, fail("environment variable %s (from env:%s) is not set or is empty: set it, or change the reference", name, name)
		}
		return []byte(s), nil
	}
	if _, ok := strings.CutPrefix(v.Raw, "file:"); ok {
		path := secretPath(v.Raw, baseDir)
		if path == "" {
			return nil, fail(`"file:" names no file: write file:PATH`)
		}
		// Bounded, and never a FIFO or a device: "file:/dev/zero" must
		// be an error, not an out-of-memory crash or a hang.
		b, err := boundedio.ReadFile(path, boundedio.MaxSecretFile)
		if errors.Is(err, boundedio.ErrNotRegular) || errors.Is(err, boundedio.ErrTooLarge) {
			// These name the path already.
			return nil, &Error{Origin: v.Origin, Msg: "secret file " + err.Error(), Err: err}
		}
		if err != nil {
			return nil, &Error{Origin: v.Origin, Msg: fmt.Sprintf("cannot read secret file %s: %s", path, ioReason(err)), Err: err}
		}
		if len(b) == 0 {
			return nil, fail("secret file %s is empty: write the secret into it", path)
		}
		return b, nil
	}
	if v.Raw == "" {
		return nil, fail("the secret is empty: write it inline, or better as env:NAME or file:PATH")
	}
	return []byte(v.Raw), nil
}

// secretPath returns the path of a "file:" reference: ~ expanded, and
// relative paths joined to baseDir.
func secretPath(raw, baseDir string) string {
	path := strings.TrimPrefix(raw, "file:")
	if path == "" {
		return ""
	}
	if path == "~" || strings.HasPrefix(path, "~/") || strings.HasPrefix(path, `~\`) {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, path[1:])
		}
	}
	if !filepath.IsAbs(path) && baseDir != "" {
		path = filepath.Join(baseDir, path)
	}
	return path
}

// ioReason is the reason of a file error without the path (which the
// message already names).
func ioReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
