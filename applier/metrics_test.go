package applier

import (
	"maps"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather returns name's value per partition label in reg.
func gather(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[partitionLabel(m)] = m.GetGauge().GetValue()
		}
	}
	return out
}

func partitionLabel(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "partition" {
			return l.GetValue()
		}
	}
	return ""
}

func TestKafkaPositions(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	if got := gather(t, reg, "drc_applier_records_behind"); len(got) != 0 {
		t.Fatalf("records_behind before anything is known = %v, want no series", got)
	}
	// Partition 0: resumed at 100, LSO 151 (the record at 150 is the last
	// commit marker), nothing applied by this process yet.
	m.resumed(0, 100)
	m.kafka.setStable(0, 151)
	// Partition 1: applied up to 41, LSO 42: caught up.
	applied := time.Now().Add(-10 * time.Minute)
	m.checkpointed(1, 41, applied)
	m.kafka.setStable(1, 42)
	// Partition 2: a checkpoint but no LSO read yet.
	m.checkpointed(2, 7, applied)

	if got, want := gather(t, reg, "drc_applier_records_behind"), map[string]float64{"0": 50, "1": 0}; !maps.Equal(got, want) {
		t.Errorf("records_behind = %v, want %v", got, want)
	}
	if got := gather(t, reg, "drc_applier_retention_horizon_seconds"); len(got) != 0 {
		t.Errorf("retention horizon without retention.ms = %v, want no series", got)
	}

	m.kafka.setRetention(time.Hour)
	got := gather(t, reg, "drc_applier_retention_horizon_seconds")
	if _, ok := got["0"]; ok || len(got) != 2 {
		t.Fatalf("retention horizon = %v, want partitions 1 and 2 only (0 has applied nothing)", got)
	}
	for _, p := range []string{"1", "2"} {
		// 1h retention from a record applied 10 minutes ago: 50 minutes.
		if v := got[p]; v > 50*60 || v < 50*60-30 {
			t.Errorf("retention horizon of partition %s = %.1fs, want about 3000s", p, v)
		}
	}

	m.kafka.setRetention(-1)
	for p, v := range gather(t, reg, "drc_applier_retention_horizon_seconds") {
		if !math.IsInf(v, 1) {
			t.Errorf("retention horizon of partition %s with retention.ms -1 = %v, want +Inf", p, v)
		}
	}

	if v := gather(t, reg, "drc_applier_last_checkpoint_timestamp_seconds")[""]; time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last checkpoint timestamp = %v, want about now", v)
	}
}

// A nil Registerer keeps the metrics up to date, registered nowhere.
func TestMetricsWithoutRegistry(t *testing.T) {
	m := newMetrics(nil)
	m.txns.Inc()
	m.resumed(0, 5)
	var d dto.Metric
	if err := m.txns.Write(&d); err != nil {
		t.Fatal(err)
	}
	if got := d.GetCounter().GetValue(); got != 1 {
		t.Errorf("transactions = %v, want 1", got)
	}
}
