package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every mistake on the command line exits 2 with a message that names what is wrong, before any config is read.
func TestUsageErrorsExit2AndSayWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus": hotzfs --help lists the commands`},
		{[]string{"backpu"}, `unknown command "backpu" (did you mean backup?)`},
		{[]string{"config", "bogus"}, `unknown command "bogus": hotzfs config --help lists the commands`},
		{[]string{"certs", "bogus"}, `unknown command "bogus": hotzfs certs --help lists the commands`},
		{[]string{"failback"}, "failback needs GUEST: the guest to bring home (usage: hotzfs failback GUEST [flags])"},
		{[]string{"failover"}, "failover needs GUEST: the guest to start here"},
		{[]string{"migrate"}, "migrate needs GUEST: the guest to move"},
		{[]string{"config", "check"}, "config check needs FILE: the sender or receiver config to check"},
		{[]string{"certs", "server"}, "certs server needs NAME: the receiver's host name"},
		{[]string{"certs", "client"}, "certs client needs NAME: the sending host's client name"},
		{[]string{"failback", "web1", "web2"}, `failback takes GUEST, not 2 arguments ["web1" "web2"]`},
		{[]string{"version", "x"}, `version takes no arguments, not ["x"]`},
		{[]string{"status", "x"}, "status takes no arguments"},
		{[]string{"daemon", "x"}, "daemon takes no arguments"},
		{[]string{"serve", "x"}, "serve takes no arguments"},
		{[]string{"certs", "ca", "x"}, "certs ca takes no arguments"},
		{[]string{"failback", "web1"}, "failback needs --standby (libvirt URI of the backup host"},
		{[]string{"failover", "web1"}, "failover needs --client (the client (sending host) whose backup to use)"},
		{[]string{"migrate", "web1"}, "migrate needs --to (libvirt URI of the receiver's host"},
		{[]string{"--log-level", "verbose", "version"}, `invalid argument "verbose" for "--log-level" flag: use one of debug, info, warn, error`},
		{[]string{"version", "--log-format", "xml"}, `invalid argument "xml" for "--log-format" flag: use one of text, json, auto`},
	} {
		var stdout, stderr bytes.Buffer
		code := execute(t.Context(), c.args, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d saying %q", c.args, code, stderr.String(), exitUsage, c.want)
		}
		if stdout.Len() > 0 {
			t.Errorf("%v: printed %q on stdout, want nothing", c.args, stdout.String())
		}
	}
}

// A command group alone prints its help, and a valid --log-level or --log-format is taken in any case.
func TestCommandGroupsAndGlobalFlagsStillWork(t *testing.T) {
	for _, args := range [][]string{{}, {"config"}, {"certs"}, {"--log-level", "DEBUG", "--log-format", "json", "version"}} {
		var stdout, stderr bytes.Buffer
		if code := execute(t.Context(), args, &stdout, &stderr); code != exitOK || stdout.Len() == 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 0 and output", args, code, stdout.String(), stderr.String())
		}
	}
}

func TestUseArgs(t *testing.T) {
	for use, want := range map[string]string{
		"failback GUEST":                   "GUEST",
		"check FILE":                       "FILE",
		"list [JOB...]":                    "",
		"restore [DATASET | --guest NAME]": "",
		"serve --config receiver.yaml [--stdio --client NAME]": "",
	} {
		if got := strings.Join(useArgs(use), " "); got != want {
			t.Errorf("useArgs(%q) = %q, want %q", use, got, want)
		}
	}
}
