#!/usr/bin/env node
// `cdk synth` / `cdk deploy`: the values come from the context (cdk.json, or `-c key=value`).
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { SluiceStack } from "../lib/sluice-stack";
import { suppressWithReasons } from "../lib/nag-suppressions";

const app = new App();
const context = (key: string): string => {
  const value = app.node.tryGetContext(key);
  if (typeof value !== "string" || value === "") {
    throw new Error(`set the context value ${key} (cdk.json or -c ${key}=…)`);
  }
  return value;
};

const stack = new SluiceStack(app, "Sluice", {
  env: { account: context("account"), region: context("region") },
  certificateArn: context("certificateArn"),
  imageRepository: context("imageRepository"),
  imageTag: context("imageTag"),
  archiveBucketName: context("archiveBucketName"),
  archivePrefix: app.node.tryGetContext("archivePrefix") ?? "",
  vpcId: app.node.tryGetContext("vpcId"),
});
suppressWithReasons(stack);
// AWS Solutions rules on every construct; a finding not acknowledged (with its reason, in
// lib/nag-suppressions.ts) fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
