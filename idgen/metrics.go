package idgen

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the HTTP-side metrics; node state is exported by
// nodeCollector at scrape time, so the issuing hot path touches no metric.
type metrics struct {
	requests *prometheus.CounterVec   // handler, code
	duration *prometheus.HistogramVec // handler
	served   prometheus.Counter       // IDs returned over HTTP
}

// newMetrics creates the metrics on reg; with a nil reg they are kept up
// to date but registered nowhere.
func newMetrics(reg prometheus.Registerer, n *Node) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "drc_idgen_http_requests_total",
			Help: "HTTP requests by handler and status code.",
		}, []string{"handler", "code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "drc_idgen_http_request_duration_seconds",
			Help:    "HTTP request latency by handler, from headers read to response written.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, .5, 1},
		}, []string{"handler"}),
		served: f.NewCounter(prometheus.CounterOpts{
			Name: "drc_idgen_http_ids_served_total",
			Help: "IDs returned by GET /v1/ids.",
		}),
	}
	if reg != nil {
		reg.MustRegister(newNodeCollector(n))
	}
	return m
}

type nodeCollector struct {
	n                                                            *Node
	issued, refused, issuing, leaseRemaining, highWaterLead      *prometheus.Desc
	clockLead, clockOK, leaseNode, renewals, renewFailures, lost *prometheus.Desc
	acquisitions                                                 *prometheus.Desc
}

func newNodeCollector(n *Node) *nodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("drc_idgen_"+name, help, labels, nil)
	}
	return &nodeCollector{
		n:              n,
		issued:         d("ids_issued_total", "IDs issued by this process (HTTP and in-process)."),
		refused:        d("refusals_total", "Calls refused, by reason.", "reason"),
		issuing:        d("issuing", "1 if the node would issue an ID now, else 0."),
		leaseRemaining: d("lease_remaining_seconds", "Time until this node stops issuing unless it renews its lease."),
		highWaterLead:  d("high_water_lead_seconds", "How far the persisted high-water mark is ahead of the clock."),
		clockLead:      d("clock_lead_seconds", "Time of the last issued ID minus the clock (positive: running ahead)."),
		clockOK:        d("clock_ok", "0 while the clock is behind the last issued time by more than the backward budget."),
		leaseNode:      d("lease_node", "Leased node id, -1 without a lease."),
		renewals:       d("lease_renewals_total", "Successful lease renewals."),
		renewFailures:  d("lease_renew_failures_total", "Failed lease renewals (database errors or timeouts)."),
		lost:           d("leases_lost_total", "Leases found taken by another node at renewal."),
		acquisitions:   d("lease_acquisitions_total", "Leases acquired."),
	}
}

func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.issued, c.refused, c.issuing, c.leaseRemaining, c.highWaterLead,
		c.clockLead, c.clockOK, c.leaseNode, c.renewals, c.renewFailures, c.lost, c.acquisitions} {
		ch <- d
	}
}

func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.State()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ch <- prometheus.MustNewConstMetric(c.issued, prometheus.CounterValue, float64(s.Issued))
	for reason, v := range s.Refused {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(v), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.issuing, prometheus.GaugeValue, b(s.Issuing))
	ch <- prometheus.MustNewConstMetric(c.leaseRemaining, prometheus.GaugeValue, s.LeaseRemaining)
	ch <- prometheus.MustNewConstMetric(c.highWaterLead, prometheus.GaugeValue, s.HighWaterLead)
	ch <- prometheus.MustNewConstMetric(c.clockLead, prometheus.GaugeValue, s.ClockLead)
	ch <- prometheus.MustNewConstMetric(c.clockOK, prometheus.GaugeValue, b(s.ClockOK))
	ch <- prometheus.MustNewConstMetric(c.leaseNode, prometheus.GaugeValue, float64(s.Node))
	ch <- prometheus.MustNewConstMetric(c.renewals, prometheus.CounterValue, float64(s.Renewals))
	ch <- prometheus.MustNewConstMetric(c.renewFailures, prometheus.CounterValue, float64(s.RenewFailures))
	ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(s.LeasesLost))
	ch <- prometheus.MustNewConstMetric(c.acquisitions, prometheus.CounterValue, float64(s.Acquisitions))
}
