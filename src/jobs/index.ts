/** Background jobs (Agenda 6): the runner, the reconciliation jobs and the retention job. */
export { type JobContext, type JobOutcome, JobRunner } from './job-runner.js';
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
