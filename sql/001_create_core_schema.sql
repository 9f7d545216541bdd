-- Core schema: users, study sessions and their append-only event log, topics,
-- the plan cache, tutor chats and quizzes. Names follow the seed; ids are uuid.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The JWT `sub` is the identity; email is informational (providers may reuse one).
CREATE INDEX users_email_idx ON users (lower(email));

CREATE TABLE study_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    exam_type text NOT NULL,
    exam_date date,
    syllabus text NOT NULL,
    current_state text NOT NULL DEFAULT 'INTAKE'
        CHECK (current_state IN ('INTAKE', 'PLANNING', 'LEARNING', 'QUIZZING', 'ANALYZING',
                                 'COMPLETED')),
    current_context jsonb NOT NULL DEFAULT '{}'::jsonb,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    current_topic_id uuid,
    version integer NOT NULL DEFAULT 1,
    last_seq integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_sessions_user_id_idx ON study_sessions (user_id, created_at DESC, id DESC);

CREATE TABLE topics (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id uuid NOT NULL REFERENCES study_sessions (id) ON DELETE CASCADE,
    position integer NOT NULL,
    name text NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'in_progress', 'needs_review', 'mastered')),
    mastery_score integer NOT NULL DEFAULT 0 CHECK (mastery_score BETWEEN 0 AND 100),
    estimated_minutes integer,
    weight real NOT NULL DEFAULT 1,
    review_due_at timestamptz,
    review_interval_days real,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, position)
);
ALTER TABLE study_sessions
    ADD CONSTRAINT study_sessions_current_topic_fk
    FOREIGN KEY (current_topic_id) REFERENCES topics (id) ON DELETE SET NULL;

CREATE TABLE plan_cache (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    cache_key text NOT NULL UNIQUE,
    plan jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX idx_plan_cache_expires_at ON plan_cache (expires_at);

CREATE TABLE tutor_chats (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic_id uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    messages jsonb NOT NULL DEFAULT '[]'::jsonb,
    explanation jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_updated timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, topic_id)
);

CREATE TABLE quizzes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES study_sessions (id) ON DELETE CASCADE,
    topic_id uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    questions jsonb NOT NULL,
    time_estimate_minutes integer NOT NULL DEFAULT 5,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_quizzes_user_topic ON quizzes (user_id, topic_id);
CREATE INDEX idx_quizzes_topic_created_at ON quizzes (topic_id, created_at DESC);
CREATE INDEX idx_quizzes_created_at ON quizzes (created_at DESC);

-- The agent history: append-only, `seq` gapless per session (allocated from
-- study_sessions.last_seq under the session row's lock, in the writer's transaction).
CREATE TABLE session_events (
    session_id uuid NOT NULL REFERENCES study_sessions (id) ON DELETE CASCADE,
    seq integer NOT NULL CHECK (seq > 0),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    phase text,
    action text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}'::jsonb,
    reasoning text,
    duration_ms integer,
    PRIMARY KEY (session_id, seq)
);

CREATE FUNCTION session_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'session_events is append-only';
END $$;
CREATE TRIGGER session_events_no_update BEFORE UPDATE ON session_events
    FOR EACH ROW EXECUTE FUNCTION session_events_append_only();

-- One row per model call; summed into StudySession.usage.
CREATE TABLE llm_calls (
    id bigserial PRIMARY KEY,
    session_id uuid REFERENCES study_sessions (id) ON DELETE CASCADE,
    agent text NOT NULL,
    model text NOT NULL,
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd double precision NOT NULL DEFAULT 0,
    latency_ms integer NOT NULL DEFAULT 0,
    outcome text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_llm_calls_session ON llm_calls (session_id);
