package awstest

import (
	"fmt"
	"strings"
)

// ec2IDPrefixes are the id prefixes AWS gives EC2 resources, so a test
// can tell a subnet id from a security group id at a glance.
var ec2IDPrefixes = map[string]string{
	"aws:ec2/vpc:Vpc":                                           "vpc-",
	"aws:ec2/subnet:Subnet":                                     "subnet-",
	"aws:ec2/securityGroup:SecurityGroup":                       "sg-",
	"aws:ec2/internetGateway:InternetGateway":                   "igw-",
	"aws:ec2/natGateway:NatGateway":                             "nat-",
	"aws:ec2/eip:Eip":                                           "eipalloc-",
	"aws:ec2/routeTable:RouteTable":                             "rtb-",
	"aws:ec2/vpcEndpoint:VpcEndpoint":                           "vpce-",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":   "sgr-",
}

// fake fills in the computed outputs AWS would return for a resource of
// type typ with logical name name, and returns its id. out holds the
// inputs on entry.
func fake(typ, name string, out map[string]any) string {
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
	case "aws:sqs/queue:Queue":
		out["name"] = physical
		out["arn"] = "arn:aws:sqs" + account + physical
		out["url"] = "https://sqs." + Region + ".amazonaws.com/" + AccountID + "/" + physical
		id = out["url"].(string)
	case "aws:sns/topic:Topic":
		out["name"] = physical
		out["arn"] = "arn:aws:sns" + account + physical
		id = out["arn"].(string)
	case "aws:dynamodb/table:Table":
		out["name"] = physical
		out["arn"] = "arn:aws:dynamodb" + account + "table/" + physical
	case "aws:ecs/cluster:Cluster":
		out["name"] = physical
		out["arn"] = "arn:aws:ecs" + account + "cluster/" + physical
		id = out["arn"].(string)
	case "aws:ecs/service:Service":
		out["name"] = physical
		cluster := lastSegment(fmt.Sprint(out["cluster"]))
		id = "arn:aws:ecs" + account + "service/" + cluster + "/" + physical
	case "aws:ecs/taskDefinition:TaskDefinition":
		family, _ := out["family"].(string)
		out["revision"] = 1.0
		out["arn"] = "arn:aws:ecs" + account + "task-definition/" + family + ":1"
		out["arnWithoutRevision"] = "arn:aws:ecs" + account + "task-definition/" + family
		id = family
	case "aws:iam/role:Role":
		out["name"] = physical
		out["arn"] = "arn:aws:iam::" + AccountID + ":role/" + physical
	case "aws:cloudwatch/logGroup:LogGroup":
		out["name"] = physical
		out["arn"] = "arn:aws:logs" + account + "log-group:" + physical
	case "aws:lb/loadBalancer:LoadBalancer":
		out["name"] = physical
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "loadbalancer/app/" + physical + "/50dc6c495c0c9188"
		out["arnSuffix"] = "app/" + physical + "/50dc6c495c0c9188"
		out["dnsName"] = physical + "-1234567890." + Region + ".elb.amazonaws.com"
		out["zoneId"] = "Z35SXDOTRQ7X7K"
		id = out["arn"].(string)
	case "aws:lb/targetGroup:TargetGroup":
		out["name"] = physical
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "targetgroup/" + physical + "/6d0ecf831eec9f09"
		out["arnSuffix"] = "targetgroup/" + physical + "/6d0ecf831eec9f09"
		id = out["arn"].(string)
	case "aws:lb/listener:Listener":
		out["arn"] = "arn:aws:elasticloadbalancing" + account + "listener/app/" + physical
		id = out["arn"].(string)
	case "aws:appautoscaling/policy:Policy":
		out["name"] = physical
		out["arn"] = "arn:aws:autoscaling" + account + "scalingPolicy:" + physical
	case "aws:appautoscaling/target:Target":
		out["arn"] = "arn:aws:application-autoscaling" + account + "scalable-target/" + physical
	case "aws:cloudwatch/metricAlarm:MetricAlarm":
		out["name"] = physical
		out["arn"] = "arn:aws:cloudwatch" + account + "alarm:" + physical
	case "aws:cloudwatch/dashboard:Dashboard":
		dash, _ := out["dashboardName"].(string)
		out["dashboardArn"] = "arn:aws:cloudwatch::" + AccountID + ":dashboard/" + dash
		id = dash
	case "aws:ecr/repository:Repository":
		out["name"] = physical
		out["arn"] = "arn:aws:ecr" + account + "repository/" + physical
		out["repositoryUrl"] = AccountID + ".dkr.ecr." + Region + ".amazonaws.com/" + physical
		out["registryId"] = AccountID
	case "awsx:ecr:Image":
		// A remote component: under mocks nothing below it is registered,
		// so the fake answers for it as the awsx provider would.
		repo, _ := out["repositoryUrl"].(string)
		out["imageUri"] = repo + "@sha256:" + strings.Repeat("ab", 32)
		id = ""
	case "aws:ec2/vpc:Vpc":
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

// service is the AWS service of a type token ("aws:sqs/queue:Queue" → sqs).
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
