package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/credhost/credhost/cmd/credhost/internal/tokenout"
)

// A kubeconfig edited in place: credhost kubeconfig --write adds (or
// replaces) the profile's user, and with --cluster a context pairing it
// with an existing cluster; credhost kubeconfig convert rewrites
// kubelogin's `get-token` exec stanzas to credhost ones (as kubelogin's
// convert-kubeconfig does the other way). Everything else in the file
// stays as it was (yaml.Node keeps order and comments); the previous file
// is kept as <file>.credhost.bak.

// execStanza is the user.exec of a credhost user.
type execStanza struct {
	APIVersion         string   `yaml:"apiVersion"`
	Command            string   `yaml:"command"`
	Args               []string `yaml:"args"`
	InteractiveMode    string   `yaml:"interactiveMode"`
	ProvideClusterInfo bool     `yaml:"provideClusterInfo"`
}

func (c *kubeconfigCmd) stanza(args []string) execStanza {
	return execStanza{APIVersion: tokenout.ExecCredentialVersion, Command: c.command, Args: args, InteractiveMode: c.mode}
}

// kubeconfigPath is --kubeconfig, else the first file of $KUBECONFIG,
// else ~/.kube/config, as kubectl reads them.
func (c *kubeconfigCmd) kubeconfigPath(e *env) (string, error) {
	if c.file != "" {
		return c.file, nil
	}
	if list := filepath.SplitList(e.getenv("KUBECONFIG")); len(list) > 0 && list[0] != "" {
		return list[0], nil
	}
	home := e.getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", usageError{errors.New("no home directory: pass --kubeconfig")}
		}
	}
	return filepath.Join(home, ".kube", "config"), nil
}

// kubeDoc is a parsed kubeconfig.
type kubeDoc struct {
	path string
	old  []byte // nil if the file did not exist
	root *yaml.Node
}

func loadKubeconfig(path string) (*kubeDoc, error) {
	d := &kubeDoc{path: path}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		b = []byte("apiVersion: v1\nkind: Config\n")
	case err != nil:
		return nil, err
	default:
		d.old = b
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, usageError{fmt.Errorf("%s is not a kubeconfig: %w", path, err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		if len(bytes.TrimSpace(b)) == 0 {
			return loadKubeconfig(path + ".does-not-exist") // an empty file: start one
		}
		return nil, usageError{fmt.Errorf("%s is not a kubeconfig (no top-level mapping)", path)}
	}
	d.root = doc.Content[0]
	return d, nil
}

// list returns the sequence under key, creating it if absent.
func (d *kubeDoc) list(key string) *yaml.Node {
	if v := mapGet(d.root, key); v != nil {
		if v.Kind != yaml.SequenceNode { // "users: null"
			*v = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
		v.Style &^= yaml.FlowStyle // "users: []" grows as a block list
		return v
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	d.root.Content = append(d.root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, seq)
	return seq
}

// named returns the item of list whose name is name, or nil.
func named(list *yaml.Node, name string) *yaml.Node {
	for _, it := range list.Content {
		if n := mapGet(it, "name"); n != nil && n.Value == name {
			return it
		}
	}
	return nil
}

// put sets list's item name to {name: name, key: value}.
func put(list *yaml.Node, name, key string, value any) error {
	var v yaml.Node
	if err := v.Encode(value); err != nil {
		return err
	}
	if it := named(list, name); it != nil {
		if old := mapGet(it, key); old != nil {
			*old = v
		} else {
			it.Content = append(it.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &v)
		}
		return nil
	}
	var item yaml.Node
	if err := item.Encode(map[string]any{"name": name}); err != nil {
		return err
	}
	item.Content = append(item.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, &v)
	list.Content = append(list.Content, &item)
	return nil
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// save writes the file through a temporary file and a rename, after
// copying the previous one to <file>.credhost.bak.
func (d *kubeDoc) save() (backup string, err error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{d.root}}); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o700); err != nil {
		return "", err
	}
	if d.old != nil {
		backup = d.path + ".credhost.bak"
		if err := os.WriteFile(backup, d.old, 0o600); err != nil {
			return "", fmt.Errorf("backing up %s: %w", d.path, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(d.path), ".kubeconfig-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return backup, os.Rename(tmp.Name(), d.path)
}

// write merges the user (and the context) into the kubeconfig.
func (c *kubeconfigCmd) write(e *env, profile string, args []string) error {
	path, err := c.kubeconfigPath(e)
	if err != nil {
		return err
	}
	d, err := loadKubeconfig(path)
	if err != nil {
		return err
	}
	if err := put(d.list("users"), c.name, "user", map[string]any{"exec": c.stanza(args)}); err != nil {
		return err
	}
	ctxName := ""
	if c.cluster != "" {
		if named(d.list("clusters"), c.cluster) == nil {
			return usageError{fmt.Errorf("--cluster %q: %s has no such cluster; add it first (kubectl config set-cluster, or az aks get-credentials)", c.cluster, path)}
		}
		ctxName = firstOf(c.context, c.cluster+"-"+profile)
		if err := put(d.list("contexts"), ctxName, "context", map[string]string{"cluster": c.cluster, "user": c.name}); err != nil {
			return err
		}
	}
	backup, err := d.save()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "wrote user %s to %s", c.name, path)
	if ctxName != "" {
		fmt.Fprintf(e.stderr, " and context %s (kubectl --context %s, or kubectl config use-context %s)", ctxName, ctxName, ctxName)
	}
	if backup != "" {
		fmt.Fprintf(e.stderr, "; the previous file is %s", backup)
	}
	fmt.Fprintln(e.stderr)
	return nil
}

// convert rewrites every kubelogin get-token user to credhost, keeping
// kubelogin's --server-id as the scope.
func (c *kubeconfigCmd) convert(e *env, profile string, base []string) error {
	path, err := c.kubeconfigPath(e)
	if err != nil {
		return err
	}
	d, err := loadKubeconfig(path)
	if err != nil {
		return err
	}
	if d.old == nil {
		return usageError{fmt.Errorf("no kubeconfig at %s to convert", path)}
	}
	var converted []string
	for _, it := range d.list("users").Content {
		ex := mapGet(mapGet(it, "user"), "exec")
		cmd := mapGet(ex, "command")
		if cmd == nil || strings.TrimSuffix(filepath.Base(cmd.Value), ".exe") != "kubelogin" {
			continue
		}
		var kl struct {
			Args []string `yaml:"args"`
		}
		if err := ex.Decode(&kl); err != nil || len(kl.Args) == 0 || kl.Args[0] != "get-token" {
			continue
		}
		scope := c.scope
		for i, a := range kl.Args {
			if v, ok := strings.CutPrefix(a, "--server-id="); ok {
				scope = v + "/.default"
			} else if a == "--server-id" && i+1 < len(kl.Args) {
				scope = kl.Args[i+1] + "/.default"
			}
		}
		args := append(append([]string{}, base...), "--scope", scope, "--output", "exec-credential")
		var node yaml.Node
		if err := node.Encode(c.stanza(args)); err != nil {
			return err
		}
		*ex = node
		name := ""
		if n := mapGet(it, "name"); n != nil {
			name = n.Value
		}
		converted = append(converted, name)
	}
	if len(converted) == 0 {
		return usageError{fmt.Errorf("%s has no kubelogin get-token users to convert", path)}
	}
	backup, err := d.save()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "converted %s in %s to credhost (profile %s); the previous file is %s\n", strings.Join(converted, ", "), path, profile, backup)
	return nil
}
