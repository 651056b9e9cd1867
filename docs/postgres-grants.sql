-- Recommended grants for the role referral-orchestrator connects as (here: referral_app).
-- Run as the owner of the tables, after 'referral-orchestrator store migrate' (which the
-- owner runs: the application role creates nothing). Transitions are append-only for the
-- application: INSERT and SELECT, never UPDATE or DELETE, so the audit trail cannot be
-- rewritten through it; a row changed by anyone else is detected on the next load.
GRANT USAGE ON SCHEMA public TO referral_app;
GRANT SELECT ON ro_migrations, checkpoint_migrations TO referral_app;
-- one row per plan: created, updated on every transition; DELETE only removes a plan whose
-- launch failed before its first transition (its artifact folder was taken)
GRANT SELECT, INSERT, UPDATE, DELETE ON plans TO referral_app;
GRANT SELECT, INSERT ON transitions TO referral_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON artifacts TO referral_app;
-- LangGraph's checkpoints (PostgresSaver upserts; prune deletes)
GRANT SELECT, INSERT, UPDATE, DELETE ON checkpoints, checkpoint_blobs, checkpoint_writes
    TO referral_app;
