-- Live steps and the autopilot.
--
-- Every committed event wakes listeners on every process: NOTIFY carries only
-- "<session_id>:<seq>" (subscribers read the rows themselves). NOTIFY inside a
-- transaction is delivered at commit, so nobody is woken for a row that rolls back.
CREATE FUNCTION session_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('studypilot_events', NEW.session_id::text || ':' || NEW.seq::text);
    RETURN NULL;
END $$;
CREATE TRIGGER session_events_notify AFTER INSERT ON session_events
    FOR EACH ROW EXECUTE FUNCTION session_events_notify();

-- One autopilot run per session. `owner`/`lease_expires_at` say which process is
-- advancing it: held only while a step runs (RUNNING), renewed by a heartbeat, and
-- taken over by another process when it expires (the owner died).
CREATE TABLE autopilot_runs (
    session_id uuid PRIMARY KEY REFERENCES study_sessions (id) ON DELETE CASCADE,
    status text NOT NULL
        CHECK (status IN ('IDLE', 'RUNNING', 'AWAITING_INPUT', 'PAUSED', 'COMPLETED',
                          'FAILED')),
    owner text,
    lease_expires_at timestamptz,
    error jsonb,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_autopilot_runs_recoverable ON autopilot_runs (lease_expires_at)
    WHERE status = 'RUNNING';
