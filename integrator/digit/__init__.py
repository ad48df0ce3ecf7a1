"""The DIGIT edge: the only code that talks to DIGIT.

- `client`: `DigitClient`, one method per DIGIT operation (bills, payments, `_workflow`, MDMS);
- `mobile`: bills by mobile number, every city of a state under one deadline;
- `auth`: the shared token, its renewal, and the login locks; `roles`: what the account's roles
  allow per city and module; `account`: the verdict `integrator check` prints;
- `http`: the pooled session, the per-call deadline, and how an answer becomes an error;
- `errors`: the exception tree; `models` / `parse`: typed values in and out.
"""
