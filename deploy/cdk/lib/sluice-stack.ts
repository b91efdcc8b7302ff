// Sluice in production: stateless replicas on ECS Fargate behind an Application Load Balancer,
// sharing one RDS PostgreSQL state database and reading the pipeline archive from S3.

import {
  Duration,
  RemovalPolicy,
  Stack,
  StackProps,
  aws_certificatemanager as acm,
  aws_cloudwatch as cloudwatch,
  aws_ec2 as ec2,
  aws_ecr as ecr,
  aws_ecs as ecs,
  aws_elasticloadbalancingv2 as elbv2,
  aws_iam as iam,
  aws_kms as kms,
  aws_logs as logs,
  aws_rds as rds,
  aws_s3 as s3,
  aws_secretsmanager as secretsmanager,
  custom_resources as cr,
} from "aws-cdk-lib";
import { Construct } from "constructs";
import { BallistaCluster } from "./ballista";

export interface SluiceStackProps extends StackProps {
  /** The HTTPS listener's certificate (ACM). */
  readonly certificateArn: string;
  /** The image: an ECR repository of this account and a tag (pin a version, never `latest`). */
  readonly imageRepository: string;
  readonly imageTag: string;
  /** The bucket holding the pipeline collection archive Sluice reads (not made here). */
  readonly archiveBucketName: string;
  /** The archive's location inside it. */
  readonly archivePrefix?: string;
  /** Run in an existing VPC (looked up, so synth needs credentials) instead of a new one. */
  readonly vpcId?: string;
  /** Replicas at least; autoscaling adds more. */
  readonly minTasks?: number;
  readonly maxTasks?: number;
  /** Ballista executors at least and at most (docs/flows.md); they scale on the job queue. */
  readonly minExecutors?: number;
  readonly maxExecutors?: number;
}

/** The container's stop timeout: the drain (90 s) and the shutdown delay (15 s) fit in it. */
export const STOP_TIMEOUT = Duration.seconds(120);
/** Shorter than the stop timeout, so the target drains before the task is killed. */
export const DEREGISTRATION_DELAY = Duration.seconds(30);
const PORT = 8080;

export class SluiceStack extends Stack {
  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);

    // One customer-managed key for the logs and the secrets.
    const key = new kms.Key(this, "Key", {
      enableKeyRotation: true,
      description: "Sluice: its log groups and its secrets",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    key.grantEncryptDecrypt(new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`));
    const flowLogs = new logs.LogGroup(this, "FlowLogs", {
      retention: logs.RetentionDays.ONE_MONTH,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const vpc = props.vpcId
      ? ec2.Vpc.fromLookup(this, "Vpc", { vpcId: props.vpcId })
      : new ec2.Vpc(this, "Vpc", {
          maxAzs: 2,
          natGateways: 1,
          subnetConfiguration: [
            { name: "public", subnetType: ec2.SubnetType.PUBLIC },
            { name: "app", subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
            { name: "db", subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
          ],
          flowLogs: {
            all: {
              trafficType: ec2.FlowLogTrafficType.REJECT,
              destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
            },
          },
        });

    // Access logs of the load balancer and of the data bucket land here.
    const logBucket = new s3.Bucket(this, "AccessLogs", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // Flows' file and columnar targets on S3 write here.
    const dataBucket = new s3.Bucket(this, "Data", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: true,
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: "data/",
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const archiveBucket = s3.Bucket.fromBucketName(this, "Archive", props.archiveBucketName);

    // The state database: data stores, flow inputs, flows and their leases.
    const database = new rds.DatabaseInstance(this, "StateDatabase", {
      engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_18_3 }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.MEDIUM),
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      multiAz: true,
      storageEncrypted: true,
      allocatedStorage: 50,
      backupRetention: Duration.days(7),
      deletionProtection: true,
      iamAuthentication: true,
      enablePerformanceInsights: true,
      performanceInsightEncryptionKey: key,
      monitoringInterval: Duration.seconds(60),
      cloudwatchLogsExports: ["postgresql"],
      credentials: rds.Credentials.fromGeneratedSecret("sluice", { encryptionKey: key }),
      databaseName: "sluice",
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    // Sluice takes one URL; the operator writes it once from the generated credentials
    // (deploy/README.md), and rotates both together.
    const databaseUrl = new secretsmanager.Secret(this, "DatabaseUrl", {
      encryptionKey: key,
      description: "SLUICE__DATABASE__URL: postgres://sluice:<password>@<host>:5432/sluice",
    });
    // The key data store passwords are sealed with in the state database: write the output of
    // `sluice secrets generate-key` here before the first deployment (deploy/README.md).
    const sealingKey = new secretsmanager.Secret(this, "SealingKey", {
      encryptionKey: key,
      description: "SLUICE__SECRETS__KEY: 32 bytes, base64, from `sluice secrets generate-key`",
    });
    const metricsToken = new secretsmanager.Secret(this, "MetricsToken", {
      encryptionKey: key,
      description: "SLUICE__METRICS__BEARER_TOKEN: what Prometheus sends to scrape /metrics",
      generateSecretString: { excludePunctuation: true, passwordLength: 40 },
    });

    const cluster = new ecs.Cluster(this, "Cluster", {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      // Where Sluice and the Ballista executors find the scheduler.
      defaultCloudMapNamespace: { name: "sluice.internal", vpc },
    });
    const taskRole = new iam.Role(this, "TaskRole", {
      assumedBy: new iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
      description: "Sluice: read the archive, read and write the data bucket",
    });
    archiveBucket.grantRead(taskRole);
    dataBucket.grantReadWrite(taskRole);

    const task = new ecs.FargateTaskDefinition(this, "Task", {
      cpu: 1024,
      memoryLimitMiB: 4096,
      taskRole,
      ephemeralStorageGiB: 40,
      volumes: [{ name: "data" }, { name: "scratch" }],
    });
    const logGroup = new logs.LogGroup(this, "Logs", {
      encryptionKey: key,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const repository = ecr.Repository.fromRepositoryName(this, "Repository", props.imageRepository);
    const image = ecs.ContainerImage.fromEcrRepository(repository, props.imageTag);
    const serviceSecurityGroup = new ec2.SecurityGroup(this, "ServiceSecurityGroup", {
      vpc,
      description: "Sluice tasks: the API from the load balancer only",
    });
    const ballista = new BallistaCluster(this, "Ballista", {
      cluster,
      vpc,
      image,
      logGroup,
      dataBucket,
      clients: serviceSecurityGroup,
      minExecutors: props.minExecutors,
      maxExecutors: props.maxExecutors,
    });
    const environment = {
      SLUICE_ENVIRONMENT: "production",
      SLUICE__ENGINE__BALLISTA__URL: ballista.url,
      SLUICE__ARCHIVE__URL: `s3://${props.archiveBucketName}/${props.archivePrefix ?? ""}`,
      SLUICE__RUNNER__DRAIN_SECS: "90",
      SLUICE__SERVER__SHUTDOWN_DELAY_SECS: "15",
    };
    const secrets = {
      SLUICE__DATABASE__URL: ecs.Secret.fromSecretsManager(databaseUrl),
      SLUICE__METRICS__BEARER_TOKEN: ecs.Secret.fromSecretsManager(metricsToken),
      SLUICE__SECRETS__KEY: ecs.Secret.fromSecretsManager(sealingKey),
    };
    const container = task.addContainer("sluice", {
      image,
      command: ["serve"],
      environment,
      secrets,
      portMappings: [{ containerPort: PORT }],
      readonlyRootFilesystem: true,
      stopTimeout: STOP_TIMEOUT,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: "sluice", logGroup }),
    });
    container.addMountPoints(
      { containerPath: "/var/lib/sluice", sourceVolume: "data", readOnly: false },
      { containerPath: "/scratch", sourceVolume: "scratch", readOnly: false },
    );

    const albSecurityGroup = new ec2.SecurityGroup(this, "LoadBalancerSecurityGroup", {
      vpc,
      description: "Sluice load balancer: HTTPS, and HTTP redirected, from anywhere",
      allowAllOutbound: false,
    });
    albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), "HTTPS");
    albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), "HTTP, redirected to HTTPS");
    serviceSecurityGroup.addIngressRule(albSecurityGroup, ec2.Port.tcp(PORT), "the load balancer");
    albSecurityGroup.addEgressRule(serviceSecurityGroup, ec2.Port.tcp(PORT), "to the tasks");
    database.connections.allowDefaultPortFrom(serviceSecurityGroup, "Sluice's tasks");

    const service = new ecs.FargateService(this, "Service", {
      cluster,
      taskDefinition: task,
      desiredCount: props.minTasks ?? 2,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      securityGroups: [serviceSecurityGroup],
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      // Spread over the VPC's availability zones.
      availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
    });

    const alb = new elbv2.ApplicationLoadBalancer(this, "LoadBalancer", {
      vpc,
      internetFacing: true,
      securityGroup: albSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    alb.logAccessLogs(logBucket, "alb");
    const https = alb.addListener("Https", {
      port: 443,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      certificates: [acm.Certificate.fromCertificateArn(this, "Certificate", props.certificateArn)],
      open: false,
    });
    alb.addRedirect({ sourcePort: 80, targetPort: 443, open: false });
    const targets = https.addTargets("Sluice", {
      port: PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      targets: [service],
      deregistrationDelay: DEREGISTRATION_DELAY,
      healthCheck: {
        path: "/readyz",
        healthyHttpCodes: "200",
        interval: Duration.seconds(5),
        timeout: Duration.seconds(3),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
    });

    const scaling = service.autoScaleTaskCount({
      minCapacity: props.minTasks ?? 2,
      maxCapacity: props.maxTasks ?? 10,
    });
    scaling.scaleOnCpuUtilization("Cpu", { targetUtilizationPercent: 60 });
    scaling.scaleOnRequestCount("Requests", { requestsPerTarget: 1000, targetGroup: targets });

    // The migration: a one-off task of the same image, run to completion before the service
    // takes the new image (the service depends on it), again whenever the image changes.
    const migrate = new cr.AwsCustomResource(this, "Migrate", {
      onUpdate: {
        service: "ECS",
        action: "runTask",
        parameters: {
          cluster: cluster.clusterName,
          taskDefinition: task.taskDefinitionArn,
          launchType: "FARGATE",
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
              securityGroups: [serviceSecurityGroup.securityGroupId],
            },
          },
          overrides: { containerOverrides: [{ name: "sluice", command: ["migrate"] }] },
        },
        physicalResourceId: cr.PhysicalResourceId.of(`migrate-${props.imageTag}`),
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ["ecs:RunTask"], resources: [task.taskDefinitionArn] }),
        new iam.PolicyStatement({
          actions: ["iam:PassRole"],
          resources: [task.taskRole.roleArn, task.obtainExecutionRole().roleArn],
        }),
      ]),
      installLatestAwsSdk: false,
    });
    migrate.node.addDependency(database);
    service.node.addDependency(migrate);

    new cloudwatch.Alarm(this, "ServerErrors", {
      alarmDescription: "Sluice answers 5xx",
      metric: targets.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
        period: Duration.minutes(1),
      }),
      threshold: 10,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    new cloudwatch.Alarm(this, "UnhealthyTargets", {
      alarmDescription: "A Sluice task fails its /readyz health check",
      metric: targets.metrics.unhealthyHostCount({ period: Duration.minutes(1) }),
      threshold: 1,
      evaluationPeriods: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
}
