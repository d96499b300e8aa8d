-- One database per service (run once, when the volume is empty).
CREATE DATABASE users;
CREATE DATABASE products;
CREATE DATABASE recommender;
CREATE DATABASE analytics;
