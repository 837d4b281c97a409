// Package vpc is a Pulumi component for the network a linecook pipeline
// runs in: public subnets for the load balancer, private subnets for every
// task, NAT (none, one, or one per availability zone) and, optionally, VPC
// endpoints so traffic to SQS, ECR, CloudWatch Logs, S3 and DynamoDB never
// leaves AWS's network. It can also adopt an existing VPC and only expose
// its ids.
//
// It depends on nothing else in linecook and reads no configuration.
package vpc

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Type is the component's type token.
const Type = "linecook:vpc:Vpc"

// NAT strategies.
const (
	// NATNone gives private subnets no route out: tasks reach AWS only
	// through VPC endpoints.
	NATNone = "none"
	// NATSingle shares one NAT gateway: cheap, but one AZ's outage cuts
	// every private subnet off.
	NATSingle = "single"
	// NATPerAZ puts a NAT gateway in each AZ, each serving its own AZ.
	NATPerAZ = "per-az"
)

// Defaults.
const (
	DefaultAZs  = 2
	DefaultCIDR = "10.0.0.0/16"
	DefaultNAT  = NATSingle
)

// DefaultInterfaceEndpoints are what a linecook task talks to besides S3
// and DynamoDB (gateway endpoints): SQS, ECR's API and registry, and
// CloudWatch Logs.
var DefaultInterfaceEndpoints = []string{"sqs", "ecr.api", "ecr.dkr", "logs"}

// subnetBits is how many bits each subnet adds to the VPC prefix: 16
// equal subnets, public ones from the bottom, private ones from the middle,
// room for up to 8 AZs of each.
const subnetBits = 4

// Args configures a Vpc: a new VPC, or, with vpcId set, an existing one
// adopted as it is (the other settings then do not apply). The tags are
// the Pulumi package's schema.
type Args struct {
	// The number of availability zones, 1 to 8, each with a public and a
	// private subnet. Default 2.
	AZs int `pulumi:"azs,optional"`
	// The VPC's IPv4 block, /16 to /24. Default 10.0.0.0/16.
	CIDR string `pulumi:"cidr,optional"`
	// How private subnets reach the internet: none (only through VPC
	// endpoints), single (one shared NAT gateway) or per-az (one per
	// zone). Default single.
	NAT string `pulumi:"nat,optional"`
	// Add VPC endpoints: interfaceEndpoints in the private subnets with
	// private DNS, and S3 and DynamoDB gateway endpoints on the private
	// route tables.
	Endpoints bool `pulumi:"endpoints,optional"`
	// The services (as in com.amazonaws.REGION.<service>) given interface
	// endpoints when endpoints is on. Default sqs, ecr.api, ecr.dkr, logs.
	InterfaceEndpoints []string `pulumi:"interfaceEndpoints,optional"`

	// An existing VPC to adopt instead of creating one.
	VpcId pulumi.StringInput `pulumi:"vpcId,optional"`
	// The adopted VPC's public subnets (for load balancers).
	PublicSubnetIds pulumi.StringArrayInput `pulumi:"publicSubnetIds,optional"`
	// The adopted VPC's private subnets (for tasks).
	PrivateSubnetIds pulumi.StringArrayInput `pulumi:"privateSubnetIds,optional"`
}

// Vpc is the component.
type Vpc struct {
	pulumi.ResourceState

	// The VPC's id.
	VpcId pulumi.StringOutput `pulumi:"vpcId"`
	// The VPC's IPv4 block.
	CidrBlock pulumi.StringOutput `pulumi:"cidrBlock"`
	// The public subnets, one per zone, for load balancers. Each id
	// carries its route to the internet gateway, so what uses it is
	// created after the route and deleted before it.
	PublicSubnetIds pulumi.StringArrayOutput `pulumi:"publicSubnetIds"`
	// The private subnets, one per zone, for tasks.
	PrivateSubnetIds pulumi.StringArrayOutput `pulumi:"privateSubnetIds"`
}

// New registers the network, or adopts an existing one.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Vpc, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	if err := a.defaults(); err != nil {
		return nil, fmt.Errorf("vpc %s: %w", name, err)
	}
	v := &Vpc{}
	if err := ctx.RegisterComponentResource(Type, name, v, opts...); err != nil {
		return nil, err
	}
	var err error
	if a.VpcId != nil {
		err = v.adopt(ctx, a)
	} else {
		err = v.create(ctx, name, a)
	}
	if err != nil {
		return nil, fmt.Errorf("vpc %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(v, pulumi.Map{
		"vpcId": v.VpcId, "cidrBlock": v.CidrBlock,
		"publicSubnetIds": v.PublicSubnetIds, "privateSubnetIds": v.PrivateSubnetIds,
	}); err != nil {
		return nil, err
	}
	return v, nil
}

func (a *Args) defaults() error {
	if a.VpcId != nil {
		if a.PublicSubnetIds == nil || a.PrivateSubnetIds == nil {
			return fmt.Errorf("vpcId: an existing VPC needs publicSubnetIds and privateSubnetIds")
		}
		if a.Endpoints {
			return fmt.Errorf("endpoints: applies only to a VPC this component creates; add endpoints to an existing VPC where it is managed")
		}
		return nil
	}
	if a.AZs == 0 {
		a.AZs = DefaultAZs
	}
	if a.CIDR == "" {
		a.CIDR = DefaultCIDR
	}
	if a.NAT == "" {
		a.NAT = DefaultNAT
	}
	if a.InterfaceEndpoints == nil {
		a.InterfaceEndpoints = DefaultInterfaceEndpoints
	}
	if a.AZs < 1 || a.AZs > 1<<(subnetBits-1) {
		return fmt.Errorf("azs %d: must be 1 to %d", a.AZs, 1<<(subnetBits-1))
	}
	p, err := netip.ParsePrefix(a.CIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() < 16 || p.Bits() > 24 || p.Masked() != p {
		return fmt.Errorf("cidr %q: must be an IPv4 network from /16 to /24", a.CIDR)
	}
	if !slices.Contains([]string{NATNone, NATSingle, NATPerAZ}, a.NAT) {
		return fmt.Errorf("nat %q: must be %s, %s or %s", a.NAT, NATNone, NATSingle, NATPerAZ)
	}
	return nil
}

func (v *Vpc) adopt(ctx *pulumi.Context, a Args) error {
	v.VpcId = a.VpcId.ToStringOutput()
	v.PublicSubnetIds = a.PublicSubnetIds.ToStringArrayOutput()
	v.PrivateSubnetIds = a.PrivateSubnetIds.ToStringArrayOutput()
	v.CidrBlock = ec2.LookupVpcOutput(ctx, ec2.LookupVpcOutputArgs{Id: a.VpcId}, pulumi.Parent(v)).CidrBlock()
	return nil
}

func (v *Vpc) create(ctx *pulumi.Context, name string, a Args) error {
	parent := pulumi.Parent(v)
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
		// Regular zones only: Local and Wavelength Zones lack Fargate and
		// NAT gateways.
		Filters: []aws.GetAvailabilityZonesFilter{{Name: "opt-in-status", Values: []string{"opt-in-not-required"}}},
	}, parent)
	if err != nil {
		return fmt.Errorf("list availability zones: %w", err)
	}
	if len(zones.Names) < a.AZs {
		return fmt.Errorf("azs %d: the region has only %d available (%s)", a.AZs, len(zones.Names), strings.Join(zones.Names, ", "))
	}
	azs := zones.Names[:a.AZs]
	base := netip.MustParsePrefix(a.CIDR)

	vpc, err := ec2.NewVpc(ctx, name, &ec2.VpcArgs{
		CidrBlock: pulumi.String(a.CIDR),
		// Both are needed for interface endpoints' private DNS names.
		EnableDnsSupport:   pulumi.Bool(true),
		EnableDnsHostnames: pulumi.Bool(true),
		Tags:               tags(name),
	}, parent)
	if err != nil {
		return err
	}
	igw, err := ec2.NewInternetGateway(ctx, name, &ec2.InternetGatewayArgs{VpcId: vpc.ID(), Tags: tags(name)}, parent)
	if err != nil {
		return err
	}
	publicRT, err := ec2.NewRouteTable(ctx, name+"-public", &ec2.RouteTableArgs{
		VpcId:  vpc.ID(),
		Routes: ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), GatewayId: igw.ID()}},
		Tags:   tags(name + "-public"),
	}, parent)
	if err != nil {
		return err
	}

	var public, private []*ec2.Subnet
	// The public subnets' ids as exported carry their route-table
	// associations as dependencies: a load balancer given them is created
	// after its subnets can reach the internet gateway (AWS answers an
	// internet-facing one InvalidSubnet before) and deleted before that
	// route goes.
	var publicIDs pulumi.StringArray
	for i, az := range azs {
		pub, assoc, err := subnet(ctx, fmt.Sprintf("%s-public-%d", name, i), vpc, az, Subnet(base, i), publicRT, parent)
		if err != nil {
			return err
		}
		publicIDs = append(publicIDs, pulumi.All(pub.ID(), assoc.ID()).ApplyT(func(v []any) string {
			return string(v[0].(pulumi.ID))
		}).(pulumi.StringOutput))
		priv, err := ec2.NewSubnet(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.SubnetArgs{
			VpcId: vpc.ID(), AvailabilityZone: pulumi.String(az), CidrBlock: pulumi.String(Subnet(base, 8+i).String()),
			MapPublicIpOnLaunch: pulumi.Bool(false),
			Tags:                tags(fmt.Sprintf("%s-private-%s", name, az)),
		}, parent)
		if err != nil {
			return err
		}
		public, private = append(public, pub), append(private, priv)
	}

	// NAT gateways, in public subnets: none, the first AZ's, or every AZ's.
	nats := 0
	switch a.NAT {
	case NATSingle:
		nats = 1
	case NATPerAZ:
		nats = len(azs)
	}
	var natIDs []pulumi.IDOutput
	for i := range nats {
		n := fmt.Sprintf("%s-nat-%d", name, i)
		eip, err := ec2.NewEip(ctx, n, &ec2.EipArgs{Domain: pulumi.String("vpc"), Tags: tags(n)}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return err
		}
		nat, err := ec2.NewNatGateway(ctx, n, &ec2.NatGatewayArgs{
			AllocationId: eip.ID(), SubnetId: public[i].ID(), Tags: tags(n),
		}, parent, pulumi.DependsOn([]pulumi.Resource{igw}))
		if err != nil {
			return err
		}
		natIDs = append(natIDs, nat.ID())
	}

	// Private route tables: one per AZ with per-AZ NAT (each AZ keeps its
	// own way out), else one shared.
	var privateRTs []*ec2.RouteTable
	tables := 1
	if a.NAT == NATPerAZ {
		tables = len(azs)
	}
	for i := range tables {
		n := name + "-private"
		if tables > 1 {
			n = fmt.Sprintf("%s-private-%d", name, i)
		}
		var routes ec2.RouteTableRouteArray
		if len(natIDs) > 0 {
			routes = ec2.RouteTableRouteArray{&ec2.RouteTableRouteArgs{CidrBlock: pulumi.String("0.0.0.0/0"), NatGatewayId: natIDs[i]}}
		}
		rt, err := ec2.NewRouteTable(ctx, n, &ec2.RouteTableArgs{VpcId: vpc.ID(), Routes: routes, Tags: tags(n)}, parent)
		if err != nil {
			return err
		}
		privateRTs = append(privateRTs, rt)
	}
	for i, s := range private {
		rt := privateRTs[min(i, len(privateRTs)-1)]
		if _, err := ec2.NewRouteTableAssociation(ctx, fmt.Sprintf("%s-private-%d", name, i), &ec2.RouteTableAssociationArgs{
			SubnetId: s.ID(), RouteTableId: rt.ID(),
		}, parent); err != nil {
			return err
		}
	}

	if a.Endpoints {
		if err := endpoints(ctx, name, a, vpc, private, privateRTs, parent); err != nil {
			return err
		}
	}

	v.VpcId = vpc.ID().ToStringOutput()
	v.CidrBlock = vpc.CidrBlock
	v.PublicSubnetIds = publicIDs.ToStringArrayOutput()
	v.PrivateSubnetIds = ids(private)
	return nil
}

func subnet(ctx *pulumi.Context, name string, vpc *ec2.Vpc, az string, cidr netip.Prefix, rt *ec2.RouteTable, parent pulumi.ResourceOrInvokeOption) (*ec2.Subnet, *ec2.RouteTableAssociation, error) {
	s, err := ec2.NewSubnet(ctx, name, &ec2.SubnetArgs{
		VpcId: vpc.ID(), AvailabilityZone: pulumi.String(az), CidrBlock: pulumi.String(cidr.String()),
		// Only the load balancer lives here; nothing needs a public IP
		// by default.
		MapPublicIpOnLaunch: pulumi.Bool(false),
		Tags:                tags(name),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	assoc, err := ec2.NewRouteTableAssociation(ctx, name, &ec2.RouteTableAssociationArgs{
		SubnetId: s.ID(), RouteTableId: rt.ID(),
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	return s, assoc, nil
}

func endpoints(ctx *pulumi.Context, name string, a Args, vpc *ec2.Vpc, private []*ec2.Subnet, rts []*ec2.RouteTable, parent pulumi.ResourceOrInvokeOption) error {
	region, err := aws.GetRegion(ctx, &aws.GetRegionArgs{}, parent)
	if err != nil {
		return fmt.Errorf("look up region: %w", err)
	}
	// Interface endpoints accept HTTPS from inside the VPC and nothing
	// else; the empty egress list removes the default allow-all rule
	// (endpoint ENIs only answer, and security groups are stateful).
	sg, err := ec2.NewSecurityGroup(ctx, name+"-endpoints", &ec2.SecurityGroupArgs{
		VpcId:       vpc.ID(),
		Description: pulumi.String("VPC interface endpoints: HTTPS from inside the VPC only"),
		Ingress: ec2.SecurityGroupIngressArray{&ec2.SecurityGroupIngressArgs{
			Description: pulumi.String("HTTPS from the VPC"),
			Protocol:    pulumi.String("tcp"), FromPort: pulumi.Int(443), ToPort: pulumi.Int(443),
			CidrBlocks: pulumi.StringArray{vpc.CidrBlock},
		}},
		Egress: ec2.SecurityGroupEgressArray{},
		Tags:   tags(name + "-endpoints"),
	}, parent)
	if err != nil {
		return err
	}
	subnets := ids(private)
	for _, svc := range a.InterfaceEndpoints {
		if _, err := ec2.NewVpcEndpoint(ctx, name+"-"+strings.ReplaceAll(svc, ".", "-"), &ec2.VpcEndpointArgs{
			VpcId:             vpc.ID(),
			ServiceName:       pulumi.String("com.amazonaws." + region.Name + "." + svc),
			VpcEndpointType:   pulumi.String("Interface"),
			PrivateDnsEnabled: pulumi.Bool(true),
			SubnetIds:         subnets,
			SecurityGroupIds:  pulumi.StringArray{sg.ID()},
			Tags:              tags(name + "-" + svc),
		}, parent); err != nil {
			return err
		}
	}
	var rtIDs pulumi.StringArray
	for _, rt := range rts {
		rtIDs = append(rtIDs, rt.ID())
	}
	// Gateway endpoints are free and carry ECR's image layers (S3) and
	// the order table's traffic (DynamoDB).
	for _, svc := range []string{"s3", "dynamodb"} {
		if _, err := ec2.NewVpcEndpoint(ctx, name+"-"+svc, &ec2.VpcEndpointArgs{
			VpcId:           vpc.ID(),
			ServiceName:     pulumi.String("com.amazonaws." + region.Name + "." + svc),
			VpcEndpointType: pulumi.String("Gateway"),
			RouteTableIds:   rtIDs,
			Tags:            tags(name + "-" + svc),
		}, parent); err != nil {
			return err
		}
	}
	return nil
}

// Subnet returns the i-th of the 16 equal subnets of base.
func Subnet(base netip.Prefix, i int) netip.Prefix {
	bits := base.Bits() + subnetBits
	size := uint32(1) << (32 - bits)
	b := base.Masked().Addr().As4()
	start := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	start += uint32(i) * size
	addr := netip.AddrFrom4([4]byte{byte(start >> 24), byte(start >> 16), byte(start >> 8), byte(start)})
	return netip.PrefixFrom(addr, bits)
}

func ids(subnets []*ec2.Subnet) pulumi.StringArrayOutput {
	var out pulumi.StringArray
	for _, s := range subnets {
		out = append(out, s.ID())
	}
	return out.ToStringArrayOutput()
}

func tags(name string) pulumi.StringMap {
	return pulumi.StringMap{"Name": pulumi.String(name)}
}
