package httpserve

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// CertFile is one certificate file a role reads, and the config key that
// names it.
type CertFile struct {
	// Use is the config key, e.g. metrics.tls.cert, idgen.tls.client_ca,
	// source.tls.ca, kafka.tls.cert.
	Use  string
	Path string
}

// CertExpiry is a prometheus.Collector exporting
// drc_tls_certificate_expiry_seconds{file, use}: the seconds until the
// certificates in each file stop being of use (fileExpiry: a chain's
// soonest NotAfter, a CA bundle's latest), negative once it has passed. The files are read
// once, by NewCertExpiry, as the role reads them once when it starts; the
// value is computed at each scrape.
type CertExpiry struct {
	desc  *prometheus.Desc
	now   func() time.Time
	certs []certExpiry
}

type certExpiry struct {
	CertFile
	notAfter time.Time
}

// NewCertExpiry reads files. now is the clock (time.Now if nil). It
// returns a collector of every file it could read and an error naming
// each it could not: the role that uses such a file reports its problem
// itself, so a caller may log the error and register the collector.
func NewCertExpiry(files []CertFile, now func() time.Time) (*CertExpiry, error) {
	if now == nil {
		now = time.Now
	}
	c := &CertExpiry{
		desc: prometheus.NewDesc("drc_tls_certificate_expiry_seconds",
			"Seconds until a certificate file the role reads stops verifying: a certificate chain's soonest expiry, a CA bundle's latest (negative once passed); file is its path, use the config key naming it. Read when the role starts.",
			[]string{"file", "use"}, nil),
		now: now,
	}
	var errs []error
	seen := make(map[CertFile]bool, len(files))
	for _, f := range files {
		if seen[f] {
			continue // one series per file and use
		}
		seen[f] = true
		na, err := fileExpiry(f.Path, strings.HasSuffix(f.Use, "ca"))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.Use, err))
			continue
		}
		c.certs = append(c.certs, certExpiry{f, na})
	}
	return c, errors.Join(errs...)
}

// Describe implements prometheus.Collector.
func (c *CertExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *CertExpiry) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, e := range c.certs {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, e.notAfter.Sub(now).Seconds(), e.Path, e.Use)
	}
}

// fileExpiry is when the certificates of path stop being of use: for a
// certificate file (a leaf and its chain) the soonest NotAfter, when the
// chain stops verifying; for a CA file (ca, client_ca) the latest, since a
// bundle keeps verifying while one of its CAs is valid (a rotation puts the
// old and the new CA in one file).
func fileExpiry(path string, ca bool) (time.Time, error) {
	data, err := readPEM(path)
	if err != nil {
		return time.Time{}, err
	}
	certs, err := parseCertificates(path, data)
	if err != nil {
		return time.Time{}, err
	}
	at := certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotAfter.Before(at) != ca {
			at = c.NotAfter
		}
	}
	return at, nil
}
