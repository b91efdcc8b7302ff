// The properties the deployment relies on, read from the synthesized template.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { DEREGISTRATION_DELAY, STOP_TIMEOUT, SluiceStack } from "../lib/sluice-stack";

const ARCHIVE = "sluice-collection-archive";

function template(): Template {
  // The feature flags and cached lookups of cdk.json, as `cdk synth` reads them.
  const settings = JSON.parse(readFileSync(join(__dirname, "..", "..", "cdk.json"), "utf8"));
  const app = new App({ context: settings.context });
  const stack = new SluiceStack(app, "Sluice", {
    env: { account: "111111111111", region: "eu-west-2" },
    certificateArn: "arn:aws:acm:eu-west-2:111111111111:certificate/test",
    imageRepository: "sluice",
    imageTag: "1.2.3",
    archiveBucketName: ARCHIVE,
  });
  return Template.fromStack(stack);
}

const t = template();

test("the load balancer checks /readyz and drains a target before its task is stopped", () => {
  t.hasResourceProperties("AWS::ElasticLoadBalancingV2::TargetGroup", {
    HealthCheckPath: "/readyz",
    Matcher: { HttpCode: "200" },
    TargetGroupAttributes: Match.arrayWith([
      { Key: "deregistration_delay.timeout_seconds", Value: String(DEREGISTRATION_DELAY.toSeconds()) },
    ]),
  });
  assert.ok(DEREGISTRATION_DELAY.toSeconds() < STOP_TIMEOUT.toSeconds());
});

test("HTTPS with the certificate, and HTTP redirected to it", () => {
  t.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
    Port: 443,
    Protocol: "HTTPS",
    Certificates: [{ CertificateArn: "arn:aws:acm:eu-west-2:111111111111:certificate/test" }],
  });
  t.hasResourceProperties("AWS::ElasticLoadBalancingV2::Listener", {
    Port: 80,
    DefaultActions: [Match.objectLike({ Type: "redirect", RedirectConfig: Match.objectLike({ Protocol: "HTTPS", Port: "443" }) })],
  });
});

test("at least two tasks, rolled back when a deployment fails", () => {
  t.hasResourceProperties("AWS::ECS::Service", {
    DesiredCount: 2,
    LaunchType: "FARGATE",
    DeploymentConfiguration: Match.objectLike({
      MinimumHealthyPercent: 100,
      DeploymentCircuitBreaker: { Enable: true, Rollback: true },
    }),
  });
  t.hasResourceProperties("AWS::ApplicationAutoScaling::ScalableTarget", { MinCapacity: 2 });
});

test("the service scales on CPU and on requests per target", () => {
  const metrics = Object.values(t.findResources("AWS::ApplicationAutoScaling::ScalingPolicy"))
    .filter((p) => p.Properties.PolicyType === "TargetTrackingScaling")
    .map((p) => p.Properties.TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType);
  assert.deepEqual(metrics.sort(), ["ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"]);
});

test("the container stops within 120 s, on a read-only root with its scratch on volumes, secrets from Secrets Manager", () => {
  t.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        Image: Match.anyValue(),
        Command: ["serve"],
        StopTimeout: STOP_TIMEOUT.toSeconds(),
        ReadonlyRootFilesystem: true,
        MountPoints: Match.arrayWith([
          Match.objectLike({ ContainerPath: "/var/lib/sluice" }),
          Match.objectLike({ ContainerPath: "/scratch" }),
        ]),
        Secrets: Match.arrayWith([
          Match.objectLike({ Name: "SLUICE__DATABASE__URL" }),
          Match.objectLike({ Name: "SLUICE__METRICS__BEARER_TOKEN" }),
          Match.objectLike({ Name: "SLUICE__SECRETS__KEY" }),
        ]),
        LogConfiguration: Match.objectLike({ LogDriver: "awslogs" }),
      }),
    ],
  });
  const env = JSON.stringify(t.findResources("AWS::ECS::TaskDefinition"));
  assert.ok(!/PASSWORD|postgres:\/\//i.test(env), "no secret in the plain environment");
});

test("the task role reads the archive and reads and writes the data bucket, nothing else", () => {
  const roles = t.findResources("AWS::IAM::Policy", {
    Properties: { Roles: [{ Ref: Match.stringLikeRegexp("^TaskRole") }] },
  });
  const statements = Object.values(roles).flatMap((p) => p.Properties.PolicyDocument.Statement);
  const actions = statements.flatMap((s) => s.Action);
  assert.ok(actions.every((a: string) => a.startsWith("s3:")), JSON.stringify(actions));
  const archiveWrites = statements.filter(
    (s) => JSON.stringify(s.Resource).includes(ARCHIVE) && [s.Action].flat().some((a: string) => /Put|Delete/.test(a)),
  );
  assert.equal(archiveWrites.length, 0, "the archive is read only");
  assert.ok(statements.some((s) => [s.Action].flat().includes("s3:PutObject")), "the data bucket is written");
});

test("the migration runs as a one-off task of the same image before the service updates", () => {
  const custom = t.findResources("Custom::AWS");
  const [id, migrate] = Object.entries(custom)[0];
  const create = JSON.stringify(migrate.Properties.Update);
  assert.match(create, /runTask/);
  assert.match(create, /migrate/);
  const service = Object.values(t.findResources("AWS::ECS::Service")).find((s) => s.Properties.LoadBalancers)!;
  assert.ok([service.DependsOn].flat().includes(id), "the service waits for the migration");
});

test("RDS PostgreSQL, encrypted, Multi-AZ, not reachable from outside the VPC", () => {
  t.hasResourceProperties("AWS::RDS::DBInstance", {
    Engine: "postgres",
    StorageEncrypted: true,
    MultiAZ: true,
    PubliclyAccessible: false,
  });
});

test("alarms on 5xx answers and on unhealthy targets", () => {
  const alarms = Object.values(t.findResources("AWS::CloudWatch::Alarm"))
    .map((a) => a.Properties.MetricName)
    .filter((name) => name !== undefined);
  assert.deepEqual(alarms.sort(), ["HTTPCode_Target_5XX_Count", "UnHealthyHostCount"]);
});

test("a Ballista scheduler Sluice and the executors find through Cloud Map", () => {
  t.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        EntryPoint: ["/app/sluice-ballista"],
        Command: Match.arrayWith(["scheduler"]),
        ReadonlyRootFilesystem: true,
      }),
    ],
  });
  t.hasResourceProperties("AWS::ECS::Service", {
    DesiredCount: 1,
    ServiceRegistries: Match.anyValue(),
  });
  t.hasResourceProperties("AWS::ServiceDiscovery::PrivateDnsNamespace", { Name: "sluice.internal" });
  t.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        Command: ["serve"],
        Environment: Match.arrayWith([
          { Name: "SLUICE__ENGINE__BALLISTA__URL", Value: "df://ballista-scheduler.sluice.internal:50050" },
        ]),
      }),
    ],
  });
});

test("executors scale on the scheduler's queue: jobs waiting or running", () => {
  const filters = Object.values(t.findResources("AWS::Logs::MetricFilter")).map(
    (f) => f.Properties.MetricTransformations[0],
  );
  assert.deepEqual(filters.map((f) => f.MetricValue).sort(), [
    "$.ballista_queue.pending_jobs",
    "$.ballista_queue.running_jobs",
  ]);
  const steps = Object.values(t.findResources("AWS::ApplicationAutoScaling::ScalingPolicy")).filter(
    (p) => p.Properties.PolicyType === "StepScaling",
  );
  assert.equal(steps.length, 2, "one policy out, one in");
  const queueAlarms = Object.values(t.findResources("AWS::CloudWatch::Alarm")).filter((a) =>
    JSON.stringify(a.Properties.Metrics ?? []).includes("pending + running"),
  );
  assert.equal(queueAlarms.length, 2, "the out and in alarms watch the queue depth");
  t.hasResourceProperties("AWS::ECS::TaskDefinition", {
    ContainerDefinitions: [
      Match.objectLike({
        EntryPoint: ["/app/sluice-ballista"],
        Command: Match.arrayWith(["executor", "--scheduler-host=ballista-scheduler.sluice.internal"]),
        ReadonlyRootFilesystem: true,
      }),
    ],
  });
});
