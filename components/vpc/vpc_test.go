package vpc_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/linecook/linecook/components/awstest"
	"github.com/linecook/linecook/components/vpc"
)

type outputs struct {
	vpcID, cidr     string
	public, private []string
}

func run(t *testing.T, args *vpc.Args) (*awstest.Mocks, outputs, error) {
	t.Helper()
	got := make(chan outputs, 1)
	m, err := awstest.Run(func(ctx *pulumi.Context) error {
		v, err := vpc.New(ctx, "net", args)
		if err != nil {
			return err
		}
		pulumi.All(v.VpcId, v.CidrBlock, v.PublicSubnetIds, v.PrivateSubnetIds).ApplyT(func(x []any) error {
			got <- outputs{x[0].(string), x[1].(string), x[2].([]string), x[3].([]string)}
			return nil
		})
		return nil
	})
	if err != nil {
		return m, outputs{}, err
	}
	// An adopted VPC's outputs come from plain inputs and an invoke, which
	// RunErr does not wait for (the engine does, through the component's
	// registered outputs): wait here, bounded.
	select {
	case out := <-got:
		return m, out, nil
	case <-time.After(30 * time.Second):
		t.Fatal("the component's outputs never resolved")
		return m, outputs{}, nil
	}
}

func TestNetworkShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		args vpc.Args
		// resource counts by type
		want map[string]int
	}{
		{"defaults: 2 AZs, one NAT", vpc.Args{}, map[string]int{
			awstest.EC2Subnet: 4, awstest.EC2NatGateway: 1, awstest.EC2Eip: 1, awstest.EC2RouteTable: 2, awstest.EC2RouteTableAssociation: 4, awstest.EC2VpcEndpoint: 0, awstest.EC2SecurityGroup: 0}},
		{"3 AZs, NAT per AZ, endpoints", vpc.Args{AZs: 3, NAT: vpc.NATPerAZ, Endpoints: true}, map[string]int{
			awstest.EC2Subnet: 6, awstest.EC2NatGateway: 3, awstest.EC2Eip: 3, awstest.EC2RouteTable: 4, awstest.EC2RouteTableAssociation: 6, awstest.EC2VpcEndpoint: 6, awstest.EC2SecurityGroup: 1}},
		{"no NAT, endpoints only", vpc.Args{NAT: vpc.NATNone, Endpoints: true, CIDR: "10.20.0.0/22"}, map[string]int{
			awstest.EC2Subnet: 4, awstest.EC2NatGateway: 0, awstest.EC2Eip: 0, awstest.EC2RouteTable: 2, awstest.EC2RouteTableAssociation: 4, awstest.EC2VpcEndpoint: 6, awstest.EC2SecurityGroup: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, out, err := run(t, &tc.args)
			if err != nil {
				t.Fatal(err)
			}
			counts := m.Counts()
			for typ, want := range tc.want {
				if counts[typ] != want {
					t.Errorf("%s: %d, want %d", typ, counts[typ], want)
				}
			}
			azs := max(tc.args.AZs, vpc.DefaultAZs)
			if len(out.public) != azs || len(out.private) != azs {
				t.Errorf("outputs: %d public, %d private subnets, want %d each", len(out.public), len(out.private), azs)
			}
			if !strings.HasPrefix(out.vpcID, "vpc-") {
				t.Errorf("VpcId = %q", out.vpcID)
			}
			checkSubnets(t, m, tc.args, out)
			checkPrivateRoutes(t, m, tc.args, out)
			if tc.args.Endpoints {
				checkEndpoints(t, m, out)
			}
			comp, _ := m.Find(vpc.Type, "net")
			for _, r := range m.Resources() {
				if r.Type != vpc.Type && r.Parent != comp.URN {
					t.Errorf("%s %s is not a child of the component", r.Type, r.Name)
				}
			}
		})
	}
}

// checkSubnets: one public and one private subnet per AZ, distinct AZs,
// inside the VPC block, none overlapping, none giving public IPs.
func checkSubnets(t *testing.T, m *awstest.Mocks, args vpc.Args, out outputs) {
	t.Helper()
	cidr := args.CIDR
	if cidr == "" {
		cidr = vpc.DefaultCIDR
	}
	base := netip.MustParsePrefix(cidr)
	var blocks []netip.Prefix
	azs := map[string][]string{}
	for _, s := range m.OfType(awstest.EC2Subnet) {
		p := netip.MustParsePrefix(s.String("cidrBlock"))
		if !base.Contains(p.Addr()) || p.Bits() <= base.Bits() {
			t.Errorf("subnet %s %s is outside %s", s.Name, p, base)
		}
		for _, b := range blocks {
			if b.Overlaps(p) {
				t.Errorf("subnet %s %s overlaps %s", s.Name, p, b)
			}
		}
		blocks = append(blocks, p)
		if s.Bool("mapPublicIpOnLaunch") {
			t.Errorf("subnet %s maps public IPs", s.Name)
		}
		kind := "public"
		if slices.Contains(out.private, s.ID()) {
			kind = "private"
		}
		azs[kind] = append(azs[kind], s.String("availabilityZone"))
	}
	for kind, list := range azs {
		if len(slices.Compact(slices.Sorted(slices.Values(list)))) != len(list) {
			t.Errorf("%s subnets share an AZ: %v", kind, list)
		}
	}
}

// checkPrivateRoutes: private subnets route 0.0.0.0/0 through a NAT in
// their own AZ (per-az), the single NAT, or nowhere.
func checkPrivateRoutes(t *testing.T, m *awstest.Mocks, args vpc.Args, out outputs) {
	t.Helper()
	for i, id := range out.private {
		var rtID string
		for _, a := range m.OfType(awstest.EC2RouteTableAssociation) {
			if a.String("subnetId") == id {
				rtID = a.String("routeTableId")
			}
		}
		rt, ok := m.ByOutput("id", rtID)
		if !ok {
			t.Errorf("private subnet %d has no route table", i)
			continue
		}
		routes := rt.List("routes")
		if args.NAT == vpc.NATNone {
			if len(routes) != 0 {
				t.Errorf("private subnet %d has routes %v without NAT", i, routes)
			}
			continue
		}
		if len(routes) != 1 || rt.String("routes.0.cidrBlock") != "0.0.0.0/0" || rt.String("routes.0.gatewayId") != "" {
			t.Errorf("private subnet %d routes = %v, want only 0.0.0.0/0 via NAT", i, routes)
			continue
		}
		nat, _ := m.ByOutput("id", rt.String("routes.0.natGatewayId"))
		want := out.public[0]
		if args.NAT == vpc.NATPerAZ {
			want = out.public[i]
		}
		if nat.String("subnetId") != want {
			t.Errorf("private subnet %d's NAT is in %s, want %s", i, nat.String("subnetId"), want)
		}
	}
}

func checkEndpoints(t *testing.T, m *awstest.Mocks, out outputs) {
	t.Helper()
	sgs := m.OfType(awstest.EC2SecurityGroup)
	if len(sgs) != 1 {
		t.Fatalf("%d security groups, want the endpoints' one", len(sgs))
	}
	sg := sgs[0]
	if in := sg.List("ingress"); len(in) != 1 || sg.Number("ingress.0.fromPort") != 443 || sg.Number("ingress.0.toPort") != 443 ||
		!slices.Equal(sg.Strings("ingress.0.cidrBlocks"), []string{out.cidr}) {
		t.Errorf("endpoint SG ingress = %v, want 443 from %s only", in, out.cidr)
	}
	var names []string
	for _, e := range m.OfType(awstest.EC2VpcEndpoint) {
		svc := strings.TrimPrefix(e.String("serviceName"), "com.amazonaws."+awstest.Region+".")
		names = append(names, svc)
		switch e.String("vpcEndpointType") {
		case "Interface":
			if !e.Bool("privateDnsEnabled") || !slices.Equal(e.Strings("subnetIds"), out.private) ||
				!slices.Equal(e.Strings("securityGroupIds"), []string{sg.ID()}) {
				t.Errorf("interface endpoint %s = %v, want private DNS in the private subnets behind the endpoint SG", svc, e.Inputs)
			}
		case "Gateway":
			if len(e.Strings("routeTableIds")) == 0 {
				t.Errorf("gateway endpoint %s is on no route table", svc)
			}
			for _, rt := range e.Strings("routeTableIds") {
				r, _ := m.ByOutput("id", rt)
				if !strings.Contains(r.Name, "private") {
					t.Errorf("gateway endpoint %s on non-private route table %s", svc, r.Name)
				}
			}
		default:
			t.Errorf("endpoint %s type %q", svc, e.String("vpcEndpointType"))
		}
	}
	slices.Sort(names)
	if got, want := strings.Join(names, ","), "dynamodb,ecr.api,ecr.dkr,logs,s3,sqs"; got != want {
		t.Errorf("endpoints = %s, want %s", got, want)
	}
}

func TestExistingVPC(t *testing.T) {
	m, out, err := run(t, &vpc.Args{
		VpcId:            pulumi.String("vpc-0abc"),
		PublicSubnetIds:  pulumi.ToStringArray([]string{"subnet-p1", "subnet-p2"}),
		PrivateSubnetIds: pulumi.ToStringArray([]string{"subnet-q1"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources() {
		if r.Type != vpc.Type {
			t.Errorf("adopting a VPC created %s %s", r.Type, r.Name)
		}
	}
	if out.vpcID != "vpc-0abc" || !slices.Equal(out.public, []string{"subnet-p1", "subnet-p2"}) ||
		!slices.Equal(out.private, []string{"subnet-q1"}) || out.cidr != "172.31.0.0/16" {
		t.Errorf("outputs = %+v, want the given ids and the looked-up CIDR", out)
	}
}

func TestNetworkArgErrors(t *testing.T) {
	for _, tc := range []struct {
		args vpc.Args
		want string
	}{
		{vpc.Args{NAT: "two"}, `nat "two": must be none, single or per-az`},
		{vpc.Args{CIDR: "10.0.0.0/8"}, `cidr "10.0.0.0/8"`},
		{vpc.Args{CIDR: "10.0.0.1/16"}, `cidr "10.0.0.1/16"`},
		{vpc.Args{AZs: 9}, "azs 9: must be 1 to 8"},
		{vpc.Args{AZs: 7}, "only 6 available"},
		{vpc.Args{VpcId: pulumi.String("vpc-1")}, "needs publicSubnetIds and privateSubnetIds"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			m, _, err := run(t, &tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			for _, r := range m.Resources() {
				if r.Custom {
					t.Errorf("registered %s %s despite the error", r.Type, r.Name)
				}
			}
		})
	}
}

func TestSubnetCarving(t *testing.T) {
	for _, tc := range []struct {
		base string
		i    int
		want string
	}{
		{"10.0.0.0/16", 0, "10.0.0.0/20"},
		{"10.0.0.0/16", 1, "10.0.16.0/20"},
		{"10.0.0.0/16", 8, "10.0.128.0/20"},
		{"10.0.0.0/16", 15, "10.0.240.0/20"},
		{"10.20.0.0/22", 9, "10.20.2.64/26"},
		{"192.168.4.0/24", 3, "192.168.4.48/28"},
	} {
		if got := vpc.Subnet(netip.MustParsePrefix(tc.base), tc.i); got.String() != tc.want {
			t.Errorf("Subnet(%s, %d) = %s, want %s", tc.base, tc.i, got, tc.want)
		}
	}
}
