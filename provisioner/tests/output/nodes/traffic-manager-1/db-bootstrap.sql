-- The product databases of acme-prod (seed 000) and the product's own
-- user, who may use those three and nothing else. Idempotent: run it again
-- and nothing changes but the user's password, set to the current secret.
-- The caller sets @product_password first (read from Secrets Manager at
-- run time); no password is written here.
CREATE DATABASE IF NOT EXISTS `apimgt` CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS `usermgt` CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS `registry` CHARACTER SET utf8mb4;
SET @create_user = CONCAT('CREATE USER IF NOT EXISTS ''wso2''@''%'' IDENTIFIED BY ', QUOTE(@product_password));
PREPARE create_user FROM @create_user;
EXECUTE create_user;
DEALLOCATE PREPARE create_user;
SET @set_password = CONCAT('ALTER USER ''wso2''@''%'' IDENTIFIED BY ', QUOTE(@product_password));
PREPARE set_password FROM @set_password;
EXECUTE set_password;
DEALLOCATE PREPARE set_password;
GRANT ALL PRIVILEGES ON `apimgt`.* TO 'wso2'@'%';
GRANT ALL PRIVILEGES ON `usermgt`.* TO 'wso2'@'%';
GRANT ALL PRIVILEGES ON `registry`.* TO 'wso2'@'%';
FLUSH PRIVILEGES;
