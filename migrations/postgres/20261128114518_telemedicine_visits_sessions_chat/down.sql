DROP TABLE chat_tickets;
DROP TABLE chat_logs;
DROP TABLE video_sessions;
DROP TABLE virtual_visits;
