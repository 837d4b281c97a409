package local

import (
	"testing"
	"time"
)

func TestWorkerMetricsReadsEMFValuesAndArrays(t *testing.T) {
	m := newWorkerMetrics()
	t0 := time.Unix(1000, 0)
	m.rates("grill", t0) // baseline
	lines := []string{
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"linecook","Dimensions":[["Stage"]],"Metrics":[{"Name":"ProcessingTime","Unit":"Milliseconds"},{"Name":"Succeeded","Unit":"Count"},{"Name":"Failed","Unit":"Count"}]}]},"Stage":"grill","ProcessingTime":200,"Succeeded":1,"Failed":0}`,
		`{"_aws":{"Timestamp":2,"CloudWatchMetrics":[{"Namespace":"linecook","Dimensions":[["Stage"]],"Metrics":[{"Name":"ProcessingTime","Unit":"Milliseconds"},{"Name":"Succeeded","Unit":"Count"},{"Name":"Failed","Unit":"Count"}]}]},"Stage":"grill","ProcessingTime":[100,300,400],"Succeeded":3,"Failed":2}`,
		`{"level":"INFO","msg":"not a metric"}`,
	}
	for _, l := range lines {
		if isEMF([]byte(l)) {
			m.record("grill", []byte(l))
		}
	}
	r := m.rates("grill", t0.Add(2*time.Second))
	if r.Succeeded != 4 || r.Failed != 2 {
		t.Errorf("counts = %d ok, %d failed; want 4, 2", r.Succeeded, r.Failed)
	}
	if r.Throughput != 2 {
		t.Errorf("throughput = %g/s, want 4 in 2 s = 2", r.Throughput)
	}
	if r.ProcessingMs != 250 {
		t.Errorf("processing = %gms, want mean of 200,100,300,400 = 250", r.ProcessingMs)
	}
	// The scaler gets each report once, in seconds.
	if n, sec := m.measured("grill"); n != 4 || sec != 1 {
		t.Errorf("measured = %g messages, %gs; want 4 and 1 s", n, sec)
	}
	if n, sec := m.measured("grill"); n != 0 || sec != 0 {
		t.Errorf("measured again = %g, %gs; want nothing new", n, sec)
	}
}
