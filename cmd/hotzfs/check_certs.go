package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/hotzfs/hotzfs/config"
)

// senderCertFiles are the certificates of the jobs' TLS targets: each one's CA and client certificate.
func senderCertFiles(cfg *config.Sender, jobs []config.Job) []string {
	var files []string
	for _, j := range jobs {
		if t, ok := cfg.Targets[j.Target]; ok && t.Kind() == config.TargetTLS {
			files = append(files, t.CA, t.Cert)
		}
	}
	return files
}

// judgeCerts judges each certificate file by when its first certificate to expire does: expired, or within
// --cert-critical, is CRITICAL, within --cert-warning a WARNING; a file that cannot be read is UNKNOWN.
func judgeCerts(v *verdict, files []string, now time.Time, opts checkOptions) {
	files = slices.DeleteFunc(files, func(f string) bool { return f == "" })
	slices.Sort(files)
	files = slices.Compact(files)
	for _, f := range files {
		c, err := firstToExpire(f)
		if err != nil {
			v.add(checkUnknown, "cannot read certificate %s: %s", f, firstLine(err.Error()))
			continue
		}
		left := c.NotAfter.Sub(now)
		v.perfdata("cert "+f+" days left", fmt.Sprint(int64(left.Hours()/24)),
			fmt.Sprintf("%d:", int64(opts.certWarning.Hours()/24)), fmt.Sprintf("%d:", int64(opts.certCritical.Hours()/24)))
		until := c.NotAfter.UTC().Format(time.DateOnly)
		switch {
		case left <= 0:
			v.add(checkCritical, "certificate %s (%s) expired %s ago, on %s: renew it (hotzfs certs)", f,
				c.Subject.CommonName, span(-left), until)
		case left <= opts.certCritical:
			v.add(checkCritical, "certificate %s (%s) expires in %s, on %s: renew it (hotzfs certs)", f,
				c.Subject.CommonName, span(left), until)
		case left <= opts.certWarning:
			v.add(checkWarning, "certificate %s (%s) expires in %s, on %s", f, c.Subject.CommonName, span(left), until)
		}
	}
	if len(files) > 0 {
		v.ok("%d certificate file(s) valid beyond %s", len(files), config.Duration(opts.certWarning))
	}
}

// firstToExpire reads the PEM certificates of a file (a certificate, or a bundle) and returns the one that
// expires first.
func firstToExpire(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var first *x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		if first == nil || c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	if first == nil {
		return nil, fmt.Errorf("no PEM certificate in %s", path)
	}
	return first, nil
}
