package config

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hotzfs/hotzfs/zfs"
)

// namePattern is what job and target names may be: they appear in file names, metrics and log fields.
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// Validate checks the whole config and returns every problem found, joined and sorted by position, each
// naming the file, line and column when the config was read from a file. Settings left at 0 or "" are
// taken as "default", so Validate works before and after the defaults are applied.
func (s *Sender) Validate() error {
	p := &problems{src: s.src}
	if s.Libvirt.URI != "" {
		if u, err := url.Parse(s.Libvirt.URI); err != nil || u.Scheme == "" {
			p.add("libvirt.uri", "libvirt.uri %q is not a libvirt URI; use e.g. qemu:///system", s.Libvirt.URI)
		}
	}
	if s.StateDir != "" && !filepath.IsAbs(s.StateDir) {
		p.add("state_dir", "state_dir %q must be an absolute path, like %s", s.StateDir, DefaultStateDir)
	}
	if s.Metrics != "" {
		checkListen(p, "metrics", s.Metrics)
	}
	for _, name := range sortedKeys(s.Targets) {
		validateTarget(p, name, s.Targets[name])
	}
	if len(s.Jobs) == 0 {
		p.add("jobs", "no jobs: add a job under jobs: (see %s)", filepath.Join(ExamplesDir, "hotzfs.yaml"))
	}
	seen := map[string]int{}
	for i, j := range s.Jobs {
		path := fmt.Sprintf("jobs[%d]", i)
		if first, dup := seen[j.Name]; dup && j.Name != "" {
			p.add(path+".name", "job name %q is used twice (first by job #%d); job names must be unique",
				j.Name, first+1)
		} else {
			seen[j.Name] = i
		}
		s.validateJob(p, path, i, j)
	}
	s.checkSharedDatasets(p)
	return p.err()
}

// jobLabel names a job in messages: `job "guests"`, or `job #2` when it has no name.
func jobLabel(i int, j Job) string {
	if j.Name == "" {
		return fmt.Sprintf("job #%d", i+1)
	}
	return fmt.Sprintf("job %q", j.Name)
}

func (s *Sender) validateJob(p *problems, path string, i int, j Job) {
	who := jobLabel(i, j)
	switch {
	case j.Name == "":
		p.add(path, "%s has no name; add name: with letters, digits, _ or -", who)
	case !namePattern.MatchString(j.Name):
		p.add(path+".name", "job name %q may only have letters, digits, _ and - (at most 64)", j.Name)
	}
	if len(j.Guests) == 0 && len(j.Datasets) == 0 {
		p.add(path, "%s has nothing to back up; list guests: (libvirt names or globs) or datasets:", who)
	}
	for k, g := range j.Guests {
		gp := fmt.Sprintf("%s.guests[%d]", path, k)
		if _, err := filepath.Match(g, ""); err != nil || strings.TrimSpace(g) == "" {
			p.add(gp, "%s: guest %q is not a name or a glob like \"web-*\"", who, g)
		}
	}
	validateDiskMap(p, path+".disk_map", who, j)
	for k, d := range j.Datasets {
		dp := fmt.Sprintf("%s.datasets[%d]", path, k)
		if err := zfs.ValidateDataset(d); err != nil {
			p.add(dp, "%s: %v", who, err)
		} else if slices.Index(j.Datasets, d) < k {
			p.add(dp, "%s: dataset %q is listed twice", who, d)
		}
	}
	if j.FreezeTimeout != 0 && (j.FreezeTimeout < MinFreezeTimeout || j.FreezeTimeout > MaxFreezeTimeout) {
		p.add(path+".freeze_timeout", "%s: freeze_timeout %s is out of range; use %s to %s",
			who, j.FreezeTimeout, MinFreezeTimeout, MaxFreezeTimeout)
	}
	validateHooks(p, path+".hooks", who, j.Hooks)
	s.validateJobTarget(p, path, who, j)
	if j.SnapshotPrefix != "" {
		if !namePattern.MatchString(j.SnapshotPrefix) || j.SnapshotPrefix[0] == '-' {
			p.add(path+".snapshot_prefix", "%s: snapshot_prefix %q may only have letters, digits, _ and - "+
				"and must not start with -", who, j.SnapshotPrefix)
		}
	}
	j.Retention.Source.validate(p, path+".retention.source", who+": retention.source")
	j.Retention.Target.validate(p, path+".retention.target", who+": retention.target")
}

// diskTarget is what a guest disk's target device may be called in disk_map ("vda", "sdb", "hdc").
var diskTarget = regexp.MustCompile(`^[a-z]{1,8}[0-9]{0,3}$`)

// validateDiskMap checks disk_map: each guest matched by the job's guests, each target a device name, each
// dataset a valid dataset name.
func validateDiskMap(p *problems, path, who string, j Job) {
	for _, g := range sortedKeys(j.DiskMap) {
		gp := path + "." + g
		matched := false
		for _, pat := range j.Guests {
			if ok, _ := filepath.Match(pat, g); ok {
				matched = true
			}
		}
		if !matched {
			p.add(gp, "%s: disk_map names guest %q, which is not among the job's guests: %s — add it to guests:",
				who, g, quoteList(j.Guests))
		}
		if len(j.DiskMap[g]) == 0 {
			p.add(gp, "%s: disk_map.%s is empty; map disk targets to datasets, like vda: tank/vm/%s-disk0", who, g, g)
		}
		for _, target := range sortedKeys(j.DiskMap[g]) {
			if !diskTarget.MatchString(target) {
				p.add(gp+"."+target, "%s: disk_map.%s: %q is not a disk target like vda or sdb (see <target dev=…> "+
					"in the domain XML)", who, g, target)
			}
			if err := zfs.ValidateDataset(j.DiskMap[g][target]); err != nil {
				p.add(gp+"."+target, "%s: disk_map.%s.%s: %v", who, g, target, err)
			}
		}
	}
}

// validateJobTarget checks the job's target reference and its receiver-side dataset prefix.
func (s *Sender) validateJobTarget(p *problems, path, who string, j Job) {
	switch _, ok := s.Targets[j.Target]; {
	case j.Target == "":
		p.add(path, "%s has no target; add target: with one of the targets: %s", who, quoteList(sortedKeys(s.Targets)))
	case !ok:
		p.add(path+".target", "%s: target %q is not defined under targets:%s", who, j.Target,
			suggest(j.Target, sortedKeys(s.Targets)))
	}
	if j.TargetRoot != "" {
		if err := zfs.ValidateDataset(j.TargetRoot); err != nil {
			p.add(path+".target_root", "%s: target_root: %v", who, err)
		}
	}
}

func validateHooks(p *problems, path, who string, hooks Hooks) {
	for k, h := range hooks {
		hp := fmt.Sprintf("%s[%d]", path, k)
		if len(h.Pre) == 0 && len(h.Post) == 0 {
			p.add(hp, "%s: hooks[%d] has no command; write pre: [/path/to/program, arg, …] and/or post: […]", who, k)
		}
		for _, side := range []struct {
			key  string
			argv []string
		}{{"pre", h.Pre}, {"post", h.Post}} {
			if len(side.argv) > 0 && side.argv[0] == "" {
				p.add(hp+"."+side.key, "%s: hooks[%d].%s has an empty program name; write %s: [/path/to/program, arg, …]",
					who, k, side.key, side.key)
			}
		}
		if h.Timeout != 0 && (h.Timeout < MinHookTimeout || h.Timeout > MaxHookTimeout) {
			p.add(hp+".timeout", "%s: hooks[%d].timeout %s is out of range; use %s to %s",
				who, k, h.Timeout, MinHookTimeout, MaxHookTimeout)
		}
	}
}

// checkSharedDatasets reports a dataset that two jobs snapshot with the same prefix: each job's retention
// would prune the other's snapshots.
func (s *Sender) checkSharedDatasets(p *problems) {
	type owner struct{ job, prefix string }
	owners := map[string][]owner{}
	for i, j := range s.Jobs {
		prefix := cmp.Or(j.SnapshotPrefix, DefaultSnapshotPrefix)
		for k, d := range j.Datasets {
			for _, o := range owners[d] {
				if o.prefix == prefix && o.job != j.Name {
					p.add(fmt.Sprintf("jobs[%d].datasets[%d]", i, k), "%s: dataset %q is also in job %q with "+
						"the same snapshot_prefix %q; their retention would prune each other's snapshots — "+
						"give one job its own snapshot_prefix", jobLabel(i, j), d, o.job, prefix)
				}
			}
			owners[d] = append(owners[d], owner{j.Name, prefix})
		}
	}
}

func validateTarget(p *problems, name string, t Target) {
	path := "targets." + name
	who := fmt.Sprintf("target %q", name)
	if !namePattern.MatchString(name) {
		p.add(path, "target name %q may only have letters, digits, _ and - (at most 64)", name)
	}
	tlsSet := setKeys(map[string]string{"address": t.Address, "ca": t.CA, "cert": t.Cert, "key": t.Key,
		"server_name": t.ServerName})
	sshSet := setKeys(map[string]string{"ssh": t.SSH, "identity": t.Identity, "known_hosts": t.KnownHosts,
		"command": t.Command})
	if t.Port != 0 {
		sshSet = append(sshSet, "port")
	}
	switch {
	case t.Address != "" && t.SSH != "":
		p.add(path, "%s has both address (TLS) and ssh; a target is one or the other — split it into two targets", who)
	case t.Address == "" && t.SSH == "":
		p.add(path, "%s has neither address: (TLS, host:port) nor ssh: (user@host); set one of them", who)
	case t.SSH != "" && len(tlsSet) > 0:
		p.add(path+"."+tlsSet[0], "%s is an ssh target; %s only for TLS targets — remove it", who, isAre(tlsSet))
	case t.Address != "" && len(sshSet) > 0:
		p.add(path+"."+sshSet[0], "%s is a TLS target; %s only for ssh targets — remove it "+
			"(the port goes into address: host:port)", who, isAre(sshSet))
	case t.Kind() == TargetTLS:
		validateTLSTarget(p, path, who, t)
	default:
		validateSSHTarget(p, path, who, t)
	}
}

func validateTLSTarget(p *problems, path, who string, t Target) {
	if host, port, err := net.SplitHostPort(t.Address); err != nil || host == "" || !validPort(port) {
		p.add(path+".address", "%s: address %q must be host:port, like backup.example.net:7390", who, t.Address)
	}
	for _, f := range []struct{ key, val string }{{"ca", t.CA}, {"cert", t.Cert}, {"key", t.Key}} {
		if f.val == "" {
			p.add(path, "%s has no %s: file; a TLS target needs ca, cert and key (make them with hotzfs certs)",
				who, f.key)
		}
	}
}

func validateSSHTarget(p *problems, path, who string, t Target) {
	user, host, hasUser := strings.Cut(t.SSH, "@")
	if !hasUser {
		host, user = user, ""
	}
	if host == "" || strings.HasPrefix(t.SSH, "-") || strings.ContainsAny(t.SSH, " \t\n'\"\\;") ||
		(hasUser && user == "") {
		p.add(path+".ssh", "%s: ssh %q must be user@host or host (no spaces, not starting with -)", who, t.SSH)
	}
	if t.Port < 0 || t.Port > 65535 {
		p.add(path+".port", "%s: port %d is not a TCP port (1-65535)", who, t.Port)
	}
	if strings.HasPrefix(t.Identity, "~") {
		p.add(path+".identity", "%s: identity %q: write the full path (~ is not expanded)", who, t.Identity)
	}
	if strings.HasPrefix(t.KnownHosts, "~") {
		p.add(path+".known_hosts", "%s: known_hosts %q: write the full path (~ is not expanded)", who, t.KnownHosts)
	}
}

// checkListen reports an address that is not host:port (the host may be empty: all interfaces).
func checkListen(p *problems, path, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || !validPort(port) {
		p.add(path, "%s %q must be [host]:port, like :7390 or 127.0.0.1:9390", path, addr)
	}
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

// setKeys returns the keys whose values are set, sorted.
func setKeys(m map[string]string) []string {
	var keys []string
	for k, v := range m {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// isAre renders keys as "port is" or "identity, port are".
func isAre(keys []string) string {
	if len(keys) == 1 {
		return keys[0] + " is"
	}
	return strings.Join(keys, ", ") + " are"
}
