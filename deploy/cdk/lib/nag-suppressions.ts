// The AWS Solutions findings this stack keeps on purpose, each with its reason. Everything else
// the rule pack reports fails the synth.

import { CfnResource, Stack, Validations } from "aws-cdk-lib";
import { IConstruct } from "constructs";

function acknowledge(construct: IConstruct, ids: string[], reason: string): void {
  for (const id of ids) {
    Validations.of(construct).acknowledge({ id, reason });
  }
}

/** A checkov check this resource is exempt from, with the reason, in the template's metadata. */
function skipCheckov(construct: IConstruct, checks: [string, string][]): void {
  const resource = construct.node.defaultChild as CfnResource;
  resource.addMetadata("checkov", {
    skip: checks.map(([id, comment]) => ({ id, comment })),
  });
}

export function suppressWithReasons(stack: Stack): void {
  const at = (path: string): IConstruct => {
    const found = stack.node.tryFindChild(path);
    if (!found) throw new Error(`no construct ${path} to acknowledge findings on`);
    return found;
  };

  acknowledge(
    at("LoadBalancerSecurityGroup"),
    ["AwsSolutions-EC23"],
    "The load balancer is the public entry: HTTPS on 443, and 80 only to redirect to it.",
  );
  acknowledge(
    at("Task"),
    ["AwsSolutions-ECS2"],
    "The plain environment holds settings only (environment name, archive location, drain times); the database URL and the metrics token come from Secrets Manager.",
  );
  acknowledge(
    at("StateDatabase"),
    ["AwsSolutions-RDS11", "AwsSolutions-SMG4"],
    "Port 5432 is reachable only from the tasks' security group in isolated subnets, so another port adds nothing. The generated password is rotated by the runbook (deploy/README.md) together with the URL secret Sluice reads, which an automatic rotation would leave stale.",
  );
  const monitoring = at("StateDatabase").node.tryFindChild("MonitoringRole");
  if (monitoring) {
    acknowledge(
      monitoring,
      ["AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]"],
      "The role RDS documents for enhanced monitoring: it writes the RDSOSMetrics log group only.",
    );
  }
  acknowledge(
    at("DatabaseUrl"),
    ["AwsSolutions-SMG4"],
    "It holds the database URL built from the database's credentials; it is rotated with them (deploy/README.md).",
  );
  acknowledge(
    at("SealingKey"),
    ["AwsSolutions-SMG4"],
    "Rotating the sealing key means sealing every stored password again (`sluice secrets rotate`), a runbook step (deploy/README.md).",
  );
  acknowledge(
    at("MetricsToken"),
    ["AwsSolutions-SMG4"],
    "Prometheus holds the same token; rotating it is a coordinated change (deploy/README.md).",
  );
  acknowledge(
    at("TaskRole"),
    [
      "AwsSolutions-IAM5[Action::s3:Abort*]",
      "AwsSolutions-IAM5[Action::s3:DeleteObject*]",
      "AwsSolutions-IAM5[Action::s3:GetBucket*]",
      "AwsSolutions-IAM5[Action::s3:GetObject*]",
      "AwsSolutions-IAM5[Action::s3:List*]",
      "AwsSolutions-IAM5[Resource::<Data666C94C7.Arn>/*]",
      "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::sluice-collection-archive/*]",
    ],
    "Object-level access within the two buckets only: read on the archive, read and write on the data bucket (CDK's grantRead and grantReadWrite sets); flows name their objects at run time.",
  );
  const ballista = at("Ballista");
  for (const task of [ballista.node.findChild("SchedulerTask"), ballista.node.findChild("ExecutorTask"), at("Task")]) {
    acknowledge(
      task,
      ["AwsSolutions-IAM5[Resource::*]"],
      "The execution role's ecr:GetAuthorizationToken has no resource-level scope in IAM.",
    );
  }
  for (const role of ["ExecutorRole", "SchedulerRole"]) {
    acknowledge(
      ballista.node.findChild(role),
      [
        "AwsSolutions-IAM5[Action::s3:GetBucket*]",
        "AwsSolutions-IAM5[Action::s3:GetObject*]",
        "AwsSolutions-IAM5[Action::s3:List*]",
        "AwsSolutions-IAM5[Resource::<Data666C94C7.Arn>/*]",
      ],
      "Read within the data bucket only (CDK's grantRead set): the scheduler lists and the executors read the sources flows name at run time.",
    );
  }
  skipCheckov(at("AccessLogs"), [
    ["CKV_AWS_18", "This bucket receives the other buckets' and the load balancer's access logs; logging it into itself would loop."],
    ["CKV_AWS_21", "Access logs expire after 90 days and are never rewritten; versions would only keep them longer."],
  ]);
  skipCheckov(at("LoadBalancerSecurityGroup"), [
    ["CKV_AWS_260", "Port 80 answers only with a redirect to HTTPS."],
  ]);
  const provider = stack.node.tryFindChild("AWS679f53fac002430cb0da5b7982bd2287");
  if (provider) {
    skipCheckov(provider, [
      ["CKV_AWS_115", "CDK's custom-resource function runs once per deployment, to start the migration task."],
      ["CKV_AWS_116", "CloudFormation calls it and reports its failure; there is nothing to retry from a queue."],
      ["CKV_AWS_117", "It calls only the ECS API, which it reaches without being in the VPC."],
    ]);
    acknowledge(
      provider,
      ["AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"],
      "CDK's custom-resource function (it runs the migration task) writes only its own CloudWatch logs.",
    );
  }
}
