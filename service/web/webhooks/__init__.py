"""Provider callbacks (Twilio status, inbound SMS, IVR), each verifying ``X-Twilio-Signature``:
the home of the dispatch issue's webhooks."""
