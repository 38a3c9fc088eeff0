package config

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// load loads a config of either kind, as `hotzfs config check` does (without opening the files it names).
func load(path string) error {
	kind, err := Kind(path)
	if err != nil {
		return err
	}
	if kind == KindSender {
		_, err = LoadSender(path)
	} else {
		_, err = LoadReceiver(path)
	}
	return err
}

func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../examples/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d example configs, want at least 3", len(files))
	}
	for _, f := range files {
		if err := load(f); err != nil {
			t.Errorf("%s must load:\n%v", f, err)
		}
	}
}

var position = regexp.MustCompile(`\.yaml:\d+:\d+: `)

// Every file in examples/invalid fails, for the reason its first line names ("# expect: …"), and says where.
func TestInvalidExamplesFail(t *testing.T) {
	files, _ := filepath.Glob("../examples/invalid/*.yaml")
	if len(files) < 8 {
		t.Fatalf("found %d invalid examples, want at least 8", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := expectation(t, f)
			err := load(f)
			switch {
			case err == nil:
				t.Fatalf("loads without error; want …%s…", want)
			case !strings.Contains(err.Error(), want):
				t.Errorf("error does not contain %q:\n%v", want, err)
			case !position.MatchString(err.Error()):
				t.Errorf("error has no file:line:col:\n%v", err)
			}
			if n := len(Problems(err)); n != 1 {
				t.Errorf("an invalid example should fail for one reason, got %d:\n%v", n, err)
			}
		})
	}
}

// expectation reads the "# expect: " first line of a file.
func expectation(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	want, ok := strings.CutPrefix(sc.Text(), "# expect: ")
	if !ok || want == "" {
		t.Fatalf("first line %q is not \"# expect: <part of the error>\"", sc.Text())
	}
	return want
}

// The cron example's schedule parses, and the units and the ssh line use config files that exist as examples.
func TestOtherExamples(t *testing.T) {
	cronLine := lastLine(t, "../examples/cron/hotzfs")
	fields := strings.Fields(cronLine)
	if len(fields) < 8 || fields[5] != "root" || fields[6] != "hotzfs" || fields[7] != "backup" {
		t.Fatalf("cron line %q is not \"m h dom mon dow root hotzfs backup …\"", cronLine)
	}
	if _, err := ParseSchedule(strings.Join(fields[:5], " ")); err != nil {
		t.Errorf("cron example: %v", err)
	}
	files, _ := filepath.Glob("../examples/systemd/*.service")
	files = append(files, "../examples/cron/hotzfs", "../examples/ssh/authorized_keys")
	configArg := regexp.MustCompile(`/etc/hotzfs/([a-z]+\.yaml)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range configArg.FindAllStringSubmatch(string(data), -1) {
			if _, err := os.Stat(filepath.Join("../examples", m[1])); err != nil {
				t.Errorf("%s uses /etc/hotzfs/%s, which has no example in examples/", f, m[1])
			}
		}
	}
	ssh := lastLine(t, "../examples/ssh/authorized_keys")
	if !strings.HasPrefix(ssh, `command="hotzfs serve --stdio --config /etc/hotzfs/receiver.yaml --client web01",`) ||
		!strings.Contains(ssh, "no-pty") {
		t.Errorf("authorized_keys line does not force the serve command: %q", ssh)
	}
}

// lastLine is the last line of a file that is not empty.
func lastLine(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}
