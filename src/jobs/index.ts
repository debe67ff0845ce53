/** Background jobs (Agenda 6): the runner, the reconciliation, retention and meter report jobs. */
export { type JobContext, type JobOutcome, JobRunner } from './job-runner.js';
export {
  defineMeterReportJob,
  type MeterReportJob,
  type MeterReportResult,
  meterReportJobName,
} from './meter-report-job.js';
export {
  defineReconciliationJobs,
  type ReconciliationJobs,
  reconciliationJobNames,
  reconciliationQueue,
} from './reconciliation-jobs.js';
export {
  defineRetentionJob,
  type RetentionJob,
  type RetentionResult,
  retentionJobName,
} from './retention-job.js';
