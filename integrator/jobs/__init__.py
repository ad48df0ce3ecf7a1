"""The only code that knows RQ: registration jobs, their scheduler, retry policy and worker.

scheduling.RqRegistrationScheduler   the service's RegistrationScheduler (enqueue / enqueue_in)
registration.register_payment        the job: one attempt, then Retry(interval) or done
policy.RetryPolicy                   when the next attempt runs (one place)
maintenance                          sweeper + DIGIT probe (a thread of the worker process)
runner.run_worker                    what `integrator worker` runs
"""
