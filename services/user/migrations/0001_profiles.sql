-- User profiles. Ids match auth-service's users.
CREATE TABLE profiles (
    id         INTEGER PRIMARY KEY,
    username   TEXT NOT NULL UNIQUE,
    email      TEXT NOT NULL,
    full_name  TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

INSERT INTO profiles (id, username, email, full_name) VALUES
    (1, 'alice', 'alice@example.com', 'Alice Liddell'),
    (2, 'bob', 'bob@example.com', 'Bob Builder');
