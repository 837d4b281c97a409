package main

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

func TestWithPoolKeepsAConnectionPerCallInFlight(t *testing.T) {
	base := aws.Config{Region: "us-east-1"}
	for _, tc := range []struct{ idle, want int }{{1000, 1000}, {3, 10}} {
		cfg := withPool(base, tc.idle)
		c, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
		if !ok {
			t.Fatalf("HTTPClient is %T, want the SDK's buildable client", cfg.HTTPClient)
		}
		tr := c.GetTransport()
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns < tc.want {
			t.Errorf("withPool(%d): %d idle per host, %d in all; want %d per host", tc.idle, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
	if base.HTTPClient != nil {
		t.Error("withPool changed the config it was given")
	}
}
