"""Signed webhooks: aggregators hear of REGISTERED, NEEDS_ATTENTION, CANCELLED, DISHONOURED and
RESOLVED instead of polling.

    models      WebhookEvent, WebhookEndpoint, DeliveryRecord, the URL rule, new secrets
    signing     X-Integrator-Signature: make it and check it (HMAC-SHA256 of "<t>.<body>")
    delivery    the JSON body and the one POST (timeouts, success = 2xx)
    observer    WebhookObserver: on each event, asks for a delivery job (never raises)

The endpoints and the delivery log live in `integrator.store.webhooks`; the job, its queue and
retry policy in `integrator.jobs.webhooks`. docs/webhooks.md is what aggregators read.
"""
