// The Ballista cluster flow inputs with `"engine": "ballista"` run on: one scheduler, found by
// Sluice and the executors through Cloud Map, and executors that scale on the scheduler's queue.
// Both run `sluice-ballista` from Sluice's own image (docs/flows.md).

import {
  Duration,
  aws_applicationautoscaling as appscaling,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecs as ecs,
  aws_iam as iam,
  aws_logs as logs,
  aws_s3 as s3,
} from "aws-cdk-lib";
import { Construct } from "constructs";

/** Ballista's own ports: the scheduler's gRPC, an executor's Arrow Flight, gRPC and health. */
export const SCHEDULER_PORT = 50050;
const FLIGHT_PORT = 50051;
const EXECUTOR_GRPC_PORT = 50052;
const HEALTH_PORT = 50053;
/** The namespace of the metrics the scheduler's queue lines become. */
export const QUEUE_NAMESPACE = "Sluice/Ballista";

export interface BallistaClusterProps {
  readonly cluster: ecs.ICluster;
  readonly vpc: ec2.IVpc;
  readonly image: ecs.ContainerImage;
  readonly logGroup: logs.ILogGroup;
  /** The bucket flows' sources on S3 live in: the executors read it. */
  readonly dataBucket: s3.IBucket;
  /** Sluice's tasks: they submit jobs to the scheduler and fetch results from the executors. */
  readonly clients: ec2.ISecurityGroup;
  readonly minExecutors?: number;
  readonly maxExecutors?: number;
}

export class BallistaCluster extends Construct {
  /** What Sluice's `engine.ballista.url` is set to. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: BallistaClusterProps) {
    super(scope, id);
    const namespace = props.cluster.defaultCloudMapNamespace;
    if (!namespace) throw new Error("the ECS cluster needs a default Cloud Map namespace");
    const schedulerHost = `ballista-scheduler.${namespace.namespaceName}`;
    this.url = `df://${schedulerHost}:${SCHEDULER_PORT}`;

    const schedulerGroup = new ec2.SecurityGroup(this, "SchedulerSecurityGroup", {
      vpc: props.vpc,
      description: "Ballista scheduler: gRPC from Sluice and the executors",
    });
    const executorGroup = new ec2.SecurityGroup(this, "ExecutorSecurityGroup", {
      vpc: props.vpc,
      description: "Ballista executors: Flight and gRPC from Sluice, the scheduler and each other",
    });
    for (const peer of [props.clients, executorGroup]) {
      schedulerGroup.addIngressRule(peer, ec2.Port.tcp(SCHEDULER_PORT), "submit jobs, register, poll work");
    }
    for (const peer of [props.clients, executorGroup, schedulerGroup]) {
      executorGroup.addIngressRule(peer, ec2.Port.tcpRange(FLIGHT_PORT, EXECUTOR_GRPC_PORT), "results, shuffles, tasks");
    }

    // The scheduler: one task, the queue in its memory. It lists the sources' files while it
    // plans a job, so it reads the data bucket too.
    const schedulerRole = new iam.Role(this, "SchedulerRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "Ballista scheduler: list and read flows' sources in the data bucket",
    });
    props.dataBucket.grantRead(schedulerRole);
    const schedulerTask = new ecs.FargateTaskDefinition(this, "SchedulerTask", {
      cpu: 512,
      memoryLimitMiB: 1024,
      taskRole: schedulerRole,
    });
    schedulerTask.addContainer("scheduler", {
      image: props.image,
      entryPoint: ["/app/sluice-ballista"],
      command: ["scheduler", "--bind-host=0.0.0.0", `--bind-port=${SCHEDULER_PORT}`],
      portMappings: [{ containerPort: SCHEDULER_PORT }],
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: "ballista-scheduler", logGroup: props.logGroup }),
    });
    new ecs.FargateService(this, "Scheduler", {
      cluster: props.cluster,
      taskDefinition: schedulerTask,
      desiredCount: 1,
      // One scheduler at a time: a second would hold a queue of its own.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
      circuitBreaker: { enable: true, rollback: true },
      securityGroups: [schedulerGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      cloudMapOptions: { name: "ballista-scheduler", dnsTtl: Duration.seconds(10) },
    });

    // The executors: they read the sources on S3 with their own role, and keep shuffle files
    // on their scratch volume.
    const executorRole = new iam.Role(this, "ExecutorRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "Ballista executors: read flows' sources in the data bucket",
    });
    props.dataBucket.grantRead(executorRole);
    const executorTask = new ecs.FargateTaskDefinition(this, "ExecutorTask", {
      cpu: 2048,
      memoryLimitMiB: 8192,
      taskRole: executorRole,
      ephemeralStorageGiB: 100,
      volumes: [{ name: "work" }],
    });
    const executor = executorTask.addContainer("executor", {
      image: props.image,
      entryPoint: ["/app/sluice-ballista"],
      command: [
        "executor",
        `--scheduler-host=${schedulerHost}`,
        `--scheduler-port=${SCHEDULER_PORT}`,
        "--bind-host=0.0.0.0",
        `--bind-port=${FLIGHT_PORT}`,
        `--bind-grpc-port=${EXECUTOR_GRPC_PORT}`,
        `--bind-health-port=${HEALTH_PORT}`,
        // Retry while the scheduler starts or moves.
        "--scheduler-connect-timeout-seconds=120",
        "--work-dir=/work",
      ],
      portMappings: [{ containerPort: FLIGHT_PORT }, { containerPort: EXECUTOR_GRPC_PORT }],
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: "ballista-executor", logGroup: props.logGroup }),
    });
    executor.addMountPoints({ containerPath: "/work", sourceVolume: "work", readOnly: false });
    const executors = new ecs.FargateService(this, "Executors", {
      cluster: props.cluster,
      taskDefinition: executorTask,
      desiredCount: props.minExecutors ?? 1,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      securityGroups: [executorGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    });

    // The queue depth: the scheduler prints {"ballista_queue":{"pending_jobs":…,"running_jobs":…}}
    // every 30 s; these filters make them metrics.
    const queueMetric = (name: string, field: string): cloudwatch.Metric => {
      new logs.MetricFilter(this, name, {
        logGroup: props.logGroup,
        metricNamespace: QUEUE_NAMESPACE,
        metricName: name,
        filterPattern: logs.FilterPattern.exists(`$.ballista_queue.${field}`),
        metricValue: `$.ballista_queue.${field}`,
        defaultValue: 0,
      });
      return new cloudwatch.Metric({
        namespace: QUEUE_NAMESPACE,
        metricName: name,
        statistic: "Maximum",
        period: Duration.minutes(1),
      });
    };
    const depth = new cloudwatch.MathExpression({
      label: "Ballista jobs waiting or running",
      expression: "pending + running",
      usingMetrics: {
        pending: queueMetric("PendingJobs", "pending_jobs"),
        running: queueMetric("RunningJobs", "running_jobs"),
      },
      period: Duration.minutes(1),
    });
    const scaling = executors.autoScaleTaskCount({
      minCapacity: props.minExecutors ?? 1,
      maxCapacity: props.maxExecutors ?? 8,
    });
    // Out as jobs queue; in only while no job waits or runs (an executor taken away mid-job
    // makes the scheduler run its tasks again elsewhere).
    scaling.scaleOnMetric("QueueDepth", {
      metric: depth,
      adjustmentType: appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: 0, change: -1 },
        { lower: 1, change: +1 },
        { lower: 4, change: +2 },
        { lower: 8, change: +4 },
      ],
      evaluationPeriods: 2,
      cooldown: Duration.minutes(2),
    });
  }
}
