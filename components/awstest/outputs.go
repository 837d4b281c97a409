package awstest

import (
	"fmt"
	"strings"
)

// ec2IDPrefixes are the id prefixes AWS gives EC2 resources, so a test
// can tell a subnet id from a security group id at a glance.
var ec2IDPrefixes = map[string]string{
	EC2Vpc:                      "vpc-",
	EC2Subnet:                   "subnet-",
	EC2SecurityGroup:            "sg-",
	EC2InternetGateway:          "igw-",
	EC2NatGateway:               "nat-",
	EC2Eip:                      "eipalloc-",
	EC2RouteTable:               "rtb-",
	EC2VpcEndpoint:              "vpce-",
	VPCSecurityGroupIngressRule: "sgr-",
	VPCSecurityGroupEgressRule:  "sgr-",
}

// Fake fills in the computed outputs AWS would return for a resource of
// type typ with logical name name (ARNs, URLs, names, DNS names...), and
// returns its id. out holds the inputs on entry. It is the one source of
// plausible AWS values: the mocks here and the engine's stand-in provider
// (components/enginetest) both use it, so a component sees the same ids
// under either. It validates nothing.
func Fake(typ, name string, out map[string]any) string {
	// Pulumi auto-names physical resources in the provider, which mocks do
	// not run: the logical name stands in for the physical one.
	physical, _ := out["name"].(string)
	if physical == "" {
		physical = name
	}
	id := physical
	if p, ok := ec2IDPrefixes[typ]; ok {
		id = p + name
	}
	account := ":" + Region + ":" + AccountID + ":"
	switch typ {
	case SQSQueue:
		out["name"] = physical
		out["arn"] = "arn:aws:sqs" + account + physical
		out["url"] = "https://sqs." + Region + ".amazonaws.com/" + AccountID + "/" + physical
		id = out["url"].(string)
	case SNSTopic:
		out["name"] = physical
		out["arn"] = "arn:aws:sns" + account + physical
		id = out["arn"].(string)
	case DynamoDBTable:
		out["name"] = physical
		out["arn"] = "arn:aws:dynamodb" + account + "table/" + physical
	case ECSCluster:
		out["name"] = physical
		out["arn"] = "arn:aws:ecs" + account + "cluster/" + physical
		id = out["arn"].(string)
	case ECSService:
		out["name"] = physical
		cluster := lastSegment(fmt.Sprint(out["cluster"]))
		id = "arn:aws:ecs" + account + "service/" + cluster + "/" + physical
	case ECSTaskDefinition:
		family, _ := out["family"].(string)
		out["revision"] = 1.0
		out["arn"] = "arn:aws:ecs" + account + "task-definition/" + family + ":1"
		out["arnWithoutRevision"] = "arn:aws:ecs" + account + "task-definition/" + family
		id = family
	case IAMRole:
		out["name"] = physical
		out["arn"] = "arn:aws:iam::" + AccountID + ":role/" + physical
	case CloudWatchLogGroup:
		out["name"] = physical
		out["arn"] = "arn:aws:logs" + account + "log-group:" + physical
	case LBLoadBalancer:
		out["name"] = physical
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "loadbalancer/app/" + physical + "/50dc6c495c0c9188"
		out["arnSuffix"] = "app/" + physical + "/50dc6c495c0c9188"
		out["dnsName"] = physical + "-1234567890." + Region + ".elb.amazonaws.com"
		out["zoneId"] = "Z35SXDOTRQ7X7K"
		id = out["arn"].(string)
	case LBTargetGroup:
		out["name"] = physical
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "targetgroup/" + physical + "/6d0ecf831eec9f09"
		out["arnSuffix"] = "targetgroup/" + physical + "/6d0ecf831eec9f09"
		id = out["arn"].(string)
	case LBListener:
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "listener/app/" + physical
		id = out["arn"].(string)
	case AppAutoScalingPolicy:
		out["name"] = physical
		out["arn"] = "arn:aws:autoscaling" + account + "scalingPolicy:" + physical
	case AppAutoScalingTarget:
		out["arn"] = "arn:aws:application-autoscaling" + account + "scalable-target/" + physical
	case CloudWatchMetricAlarm:
		out["name"] = physical
		out["arn"] = "arn:aws:cloudwatch" + account + "alarm:" + physical
	case CloudWatchDashboard:
		dash, _ := out["dashboardName"].(string)
		out["dashboardArn"] = "arn:aws:cloudwatch::" + AccountID + ":dashboard/" + dash
		id = dash
	case ECRRepository:
		out["name"] = physical
		out["arn"] = "arn:aws:ecr" + account + "repository/" + physical
		out["repositoryUrl"] = AccountID + ".dkr.ecr." + Region + ".amazonaws.com/" + physical
		out["registryId"] = AccountID
	case AWSXECRImage:
		// A remote component: under mocks nothing below it is registered,
		// so the fake answers for it as the awsx provider would.
		repo, _ := out["repositoryUrl"].(string)
		out["imageUri"] = repo + "@sha256:" + strings.Repeat("ab", 32)
		id = ""
	case EC2Vpc:
		out["arn"] = "arn:aws:ec2" + account + "vpc/" + id
		if _, ok := out["cidrBlock"]; !ok {
			out["cidrBlock"] = "10.0.0.0/16"
		}
	default:
		if strings.HasPrefix(typ, "aws:") {
			out["arn"] = "arn:aws:" + service(typ) + account + physical
		}
	}
	return id
}

// service is the AWS service of a type token (SQSQueue → sqs).
func service(typ string) string {
	mod := strings.SplitN(typ, ":", 3)
	if len(mod) < 2 {
		return ""
	}
	s, _, _ := strings.Cut(mod[1], "/")
	return s
}

func lastSegment(arn string) string {
	return arn[strings.LastIndexAny(arn, "/:")+1:]
}
