/** Background jobs (Agenda 6): the runner and the reconciliation jobs. */
export { type JobContext, type JobOutcome, JobRunner } from './job-runner.js';
export {
  defineReconciliationJobs,
  type ReconciliationJobs,
  reconciliationJobNames,
  reconciliationQueue,
} from './reconciliation-jobs.js';
