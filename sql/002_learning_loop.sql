-- The learning loop: what the seed lacked. Topic summaries and knowledge-tracing state,
-- the quiz being taken, answers stored per question, and tracked misconceptions.

ALTER TABLE topics
    ADD COLUMN summary text NOT NULL DEFAULT '',
    ADD COLUMN p_known double precision,
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN correct integer NOT NULL DEFAULT 0;

ALTER TABLE quizzes
    ADD COLUMN submitted_at timestamptz,
    ADD COLUMN score double precision CHECK (score BETWEEN 0 AND 1);

ALTER TABLE study_sessions
    ADD COLUMN current_quiz_id uuid REFERENCES quizzes (id) ON DELETE SET NULL;

CREATE TABLE quiz_answers (
    quiz_id uuid NOT NULL REFERENCES quizzes (id) ON DELETE CASCADE,
    question_id text NOT NULL,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    choice integer NOT NULL,
    correct boolean NOT NULL,
    answered_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (quiz_id, question_id)
);

CREATE TABLE misconceptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES study_sessions (id) ON DELETE CASCADE,
    topic_id uuid NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    quiz_id uuid NOT NULL REFERENCES quizzes (id) ON DELETE CASCADE,
    question_id text NOT NULL,
    analysis jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (quiz_id, question_id)
);
CREATE INDEX idx_misconceptions_topic ON misconceptions (topic_id, created_at);
