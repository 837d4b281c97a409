package burger_test

import (
	"testing"

	pkgresource "github.com/pulumi/pulumi/pkg/v3/resource"
	"github.com/pulumi/pulumi/pkg/v3/resource/deploy"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/enginetest"
)

// checkLoadBalancerAfterRoute asserts the internet-facing load balancer is
// created after the internet gateway's default route and deleted before
// it: a load balancer in subnets with no route to the internet is
// unreachable, and in AWS deleting the route first cuts it off mid-destroy.
// The engine orders two resources only when one depends on the other, so
// the test asserts both the dependency (deterministic) and the order the
// engine actually ran them in.
//
// It fails today: components/vpc's PublicSubnetIds are the subnets' ids,
// which do not depend on the route (an inline route of the public route
// table), so nothing orders the load balancer after it.
func checkLoadBalancerAfterRoute(t *testing.T, up, down *enginetest.Result) {
	snap := up.Snapshot
	var lb *pkgresource.State
	for _, r := range enginetest.Find(snap, awstest.LBLoadBalancer) {
		if v := r.Inputs["internal"]; v.IsBool() && !v.BoolValue() {
			lb = r
		}
	}
	igws := enginetest.Find(snap, awstest.EC2InternetGateway)
	if lb == nil || len(igws) != 1 {
		t.Fatalf("want one internet-facing load balancer and one internet gateway")
	}
	route := internetRoute(snap, string(igws[0].ID))
	if route == "" {
		t.Fatalf("no route to 0.0.0.0/0 via %s", igws[0].ID)
	}
	t.Logf("load balancer %s; internet route %s", lb.URN.Name(), route)

	if !enginetest.DependsOn(snap, lb.URN, route) {
		t.Errorf("the load balancer does not depend on the internet route in the engine's graph: nothing makes the engine create it after the route or delete it before")
	}
	lbCreate, ok1 := up.Step(lb.URN, enginetest.OpCreate)
	routeCreate, ok2 := up.Step(route, enginetest.OpCreate)
	if !ok1 || !ok2 || routeCreate.End == 0 || lbCreate.Begin < routeCreate.End {
		t.Errorf("create: load balancer began at event %d, route finished at event %d: want the load balancer after", lbCreate.Begin, routeCreate.End)
	}
	lbDelete, ok1 := down.Step(lb.URN, enginetest.OpDelete)
	routeDelete, ok2 := down.Step(route, enginetest.OpDelete)
	if !ok1 || !ok2 || lbDelete.End == 0 || routeDelete.Begin < lbDelete.End {
		t.Errorf("destroy: route deletion began at event %d, load balancer deletion finished at event %d: want the load balancer gone first", routeDelete.Begin, lbDelete.End)
	}
}

// internetRoute is the URN of the route to 0.0.0.0/0 through igw: an
// aws:ec2/route:Route, or else the route table holding it inline.
func internetRoute(snap *deploy.Snapshot, igw string) resource.URN {
	for _, r := range enginetest.Find(snap, enginetest.EC2Route) {
		in := awstest.Plain(r.Inputs)
		if in["destinationCidrBlock"] == "0.0.0.0/0" && in["gatewayId"] == igw {
			return r.URN
		}
	}
	for _, r := range enginetest.Find(snap, awstest.EC2RouteTable) {
		routes, _ := awstest.Plain(r.Inputs)["routes"].([]any)
		for _, rt := range routes {
			if m, ok := rt.(map[string]any); ok && m["cidrBlock"] == "0.0.0.0/0" && m["gatewayId"] == igw {
				return r.URN
			}
		}
	}
	return ""
}
