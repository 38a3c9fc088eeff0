package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hotzfs/hotzfs/certs"
	"github.com/hotzfs/hotzfs/transport/tlsconf"
)

// CheckFiles checks that every file the config names (TLS certificates and keys, ssh identities) is a
// readable file, that a TLS target's files load as a backup loads them (see checkTLS), and returns every
// problem, joined, at the position of the setting.
func (s *Sender) CheckFiles() error {
	p := &problems{src: s.src}
	for _, name := range sortedKeys(s.Targets) {
		t := s.Targets[name]
		who := fmt.Sprintf("target %q", name)
		ok := map[string]bool{}
		for _, f := range []struct{ key, path, hint string }{
			{"ca", t.CA, caHint(t.CA)},
			{"cert", t.Cert, leafHint("client", "NAME", t.Cert)},
			{"key", t.Key, leafHint("client", "NAME", t.Key)},
			{"identity", t.Identity, identityHint(t.Identity)},
			{"known_hosts", t.KnownHosts, knownHostsHint(t)},
		} {
			ok[f.key] = checkFile(p, "targets."+name+"."+f.key, who+": "+f.key, f.path, f.hint)
		}
		if t.Kind() == TargetTLS {
			checkTLS(p, "targets."+name+".", who+": ", tlsconf.Files{CA: t.CA, Cert: t.Cert, Key: t.Key}, ok,
				x509.ExtKeyUsageClientAuth)
		}
	}
	return p.err()
}

// CheckFiles checks that the TLS files are readable files and load as `hotzfs serve` loads them (see
// checkTLS), and returns every problem, joined.
func (r *Receiver) CheckFiles() error {
	p := &problems{src: r.src}
	ok := map[string]bool{}
	for _, f := range []struct{ key, path, hint string }{
		{"ca", r.TLS.CA, caHint(r.TLS.CA)},
		{"cert", r.TLS.Cert, leafHint("server", "HOST", r.TLS.Cert)},
		{"key", r.TLS.Key, leafHint("server", "HOST", r.TLS.Key)},
	} {
		ok[f.key] = checkFile(p, "tls."+f.key, "tls."+f.key, f.path, f.hint)
	}
	if !r.TLS.IsZero() {
		checkTLS(p, "tls.", "tls: ", tlsconf.Files{CA: r.TLS.CA, Cert: r.TLS.Cert, Key: r.TLS.Key}, ok,
			x509.ExtKeyUsageServerAuth)
	}
	return p.err()
}

// checkFile reports a set path that is not a readable regular file; hint says how to make a missing one. It
// returns whether the file can be read.
func checkFile(p *problems, path, what, file, hint string) bool {
	if file == "" {
		return false
	}
	f, err := os.Open(file)
	if err != nil {
		more := ""
		if errors.Is(err, fs.ErrNotExist) {
			more = " — fix the path, or create it: " + hint
		}
		p.add(path, "%s: %v%s", what, err, more)
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && !st.Mode().IsRegular() {
		p.add(path, "%s: %s is not a regular file", what, file)
		return false
	}
	return true
}

// checkTLS loads the CA, certificate and key that checkFile found readable (ok) as the side using them does:
// the CA file must hold a CA, the key must belong to the certificate, and the CA must have issued the
// certificate for usage (serverAuth for a receiver, clientAuth for a sender). Problems go to the ca and cert
// settings under prefix.
func checkTLS(p *problems, prefix, who string, f tlsconf.Files, ok map[string]bool, usage x509.ExtKeyUsage) {
	if !ok["ca"] {
		return
	}
	now := time.Now()
	roots, err := tlsconf.LoadCA(f.CA, now)
	if err != nil {
		p.add(prefix+"ca", "%sca: %v", who, err)
		return
	}
	if ok["cert"] && ok["key"] {
		if _, err := tlsconf.LoadKeyPair(f.Cert, f.Key, roots, usage, now); err != nil {
			p.add(prefix+"cert", "%scert: %v", who, err)
		}
	}
}

// certsDir is the --dir option hotzfs certs needs to write file: none for the default directory.
func certsDir(file string) string {
	if dir := filepath.Dir(file); dir != certs.DefaultDir {
		return " --dir " + dir
	}
	return ""
}

func caHint(file string) string {
	return fmt.Sprintf("copy ca.crt from the host that made the CA, or make the CA once with hotzfs certs ca%s",
		certsDir(file))
}

// leafHint tells how to make a server's or client's certificate and key; the name is the file's base name
// when the file is named like those hotzfs certs writes.
func leafHint(kind, placeholder, file string) string {
	name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	if ext := filepath.Ext(file); (ext != ".crt" && ext != ".key") || name == "" {
		name = placeholder
	}
	return fmt.Sprintf("hotzfs certs %s %s%s makes %s.crt and %s.key (with the CA; copy them to this host)",
		kind, name, certsDir(file), name, name)
}

func identityHint(file string) string {
	return fmt.Sprintf("ssh-keygen -t ed25519 -N '' -f %s makes the key; add %s.pub to the receiver's "+
		"authorized_keys with the forced command of %s", file, file, filepath.Join(ExamplesDir, "ssh/authorized_keys"))
}

func knownHostsHint(t Target) string {
	host := t.SSH[strings.LastIndex(t.SSH, "@")+1:]
	return fmt.Sprintf("ssh-keyscan -p %d %s > %s records the receiver's host key (compare its fingerprint with "+
		"ssh-keygen -lf on the receiver)", t.Port, host, t.KnownHosts)
}

// ExamplesDir is where the deb and rpm packages install the example configs (see goreleaser.yaml).
const ExamplesDir = "/usr/share/doc/hotzfs/examples"

// exampleHint tells how to start a config that does not exist yet from the packaged example of its kind.
func exampleHint(err error, path, example string) string {
	if !errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	return fmt.Sprintf(" — start from the example: cp %s %s, edit it, then check it with hotzfs config check %s",
		filepath.Join(ExamplesDir, example), path, path)
}

// FileKind is which of hotzfs's two config files a file is.
type FileKind string

const (
	KindSender   FileKind = "sender"   // hotzfs.yaml: jobs and targets
	KindReceiver FileKind = "receiver" // receiver.yaml: root and clients
)

// Kind tells a sender config from a receiver config by the top-level keys only one of them has. It does
// not validate the file.
func Kind(path string) (FileKind, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read config: %w", err)
	}
	src, err := parseSource(path, data)
	if err != nil {
		return "", err
	}
	_, senderKeys := yamlFields(reflect.TypeFor[Sender]())
	_, receiverKeys := yamlFields(reflect.TypeFor[Receiver]())
	var sender, receiver bool
	for _, mv := range src.body.Values {
		key := keyText(mv)
		inSender, inReceiver := slices.Contains(senderKeys, key), slices.Contains(receiverKeys, key)
		sender = sender || inSender && !inReceiver
		receiver = receiver || inReceiver && !inSender
	}
	switch {
	case sender && !receiver:
		return KindSender, nil
	case receiver && !sender:
		return KindReceiver, nil
	case sender && receiver:
		return "", &Error{File: path, Pos: src.nodes[""], Msg: "the file mixes sender keys (jobs, targets) " +
			"and receiver keys (root, clients); a sender and a receiver each have their own file"}
	}
	return "", &Error{File: path, Pos: src.nodes[""], Msg: "cannot tell whether this is a sender config " +
		"(with jobs: and targets:) or a receiver config (with root: and clients:)"}
}

// Check loads the config at path, whichever kind it is, validates it and checks the files it names: what
// `hotzfs config check FILE` does. It returns the kind and every problem found.
func Check(path string) (FileKind, error) {
	kind, err := Kind(path)
	if err != nil {
		return "", err
	}
	if kind == KindSender {
		s, err := LoadSender(path)
		if err != nil {
			return kind, err
		}
		return kind, s.CheckFiles()
	}
	r, err := LoadReceiver(path)
	if err != nil {
		return kind, err
	}
	return kind, r.CheckFiles()
}
