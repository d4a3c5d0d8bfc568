-- Login credentials. Passwords are stored as argon2id PHC strings, never in clear.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);

-- Demo users: alice / alice123 and bob / bob123 (argon2id, m=19456 KiB, t=2, p=1).
INSERT INTO users (id, username, password_hash) VALUES
    (1, 'alice', '$argon2id$v=19$m=19456,t=2,p=1$sWikcGQgzmX9ux0lTZc2SQ$HkbpcAjpaGN63tumkLG8D/22jYJ1KNm1EiFJ/OcJE0k'),
    (2, 'bob', '$argon2id$v=19$m=19456,t=2,p=1$wWeAoe55tEPKwsDYDAr19A$ZOLJbgdVP95J2dB3btIO7jD4vrfIPpY3Q6UBHe1tzvw');
