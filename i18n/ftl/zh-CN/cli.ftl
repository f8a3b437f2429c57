## `fieldsync` 命令行。其他程序会读取的行（服务器地址、注册链接）在各语言中保留英文关键词，供脚本匹配。

cli-error = fieldsync：{ $error }
cli-init-ready = 数据目录 { $path } 已就绪（租户 { $tenant }）
cli-init-ready-new = 数据目录 { $path } 已就绪（租户 { $tenant }，新建）
cli-tls-pin = TLS 密钥指纹 { $pin }
cli-console-on = 后台控制台：http://{ $addr }
cli-console-first-admin = 控制台登录：{ $user } / { $password }（仅显示一次，请修改）
cli-server-on = fieldsync server on udp://{ $addr }（数据目录 { $path }）
cli-first-start = 首次启动：用户 field-1 可读写范围 team:default
cli-enrol-code-first = field-1 的注册码：{ $code }
cli-enrol-link = enrolment link (QR): { $link }
cli-press-ctrl-c = 按 Ctrl-C 停止
cli-unknown-export-format = 未知的导出格式 { $format }（可用 csv 或 xlsx）
cli-exported = 已导出 { $n } 份问卷
cli-user-added = 已添加用户 { $id }
cli-scope-added = 已添加范围 { $scope }
cli-grant-set = { $user } 在 { $scope } 上：读={ $read } 写={ $write }
cli-enrol-code = { $user } 的注册码：{ $code }（{ $hours } 小时内有效，仅可使用一次）
cli-device-revoked-state = 已吊销
cli-device-active-state = 正常
cli-never = 从未
cli-device-line = { $id }	{ $user }	{ $name }	{ $state }	最近连接 { $seen }
cli-device-revoked = 设备 { $device } 已吊销，下次连接时将被拒绝
cli-epoch-bumped = 租户 { $tenant } 的日志纪元已更新为 { $epoch }；设备下次同步时将自动修复
cli-bad-role = 角色只能是 viewer、reviewer 或 admin
cli-console-user-added = 已添加控制台用户 { $username }（{ $role }），代表用户 { $user }
cli-password-once = 密码：{ $password }（仅显示一次）
cli-disabled = 已停用
cli-status = 租户 { $tenant }：{ $docs } 个文档，{ $changes } 条变更，水位 { $watermark }

## fieldsync form import

cli-form-warning = 警告：{ $warning }
cli-form-errors = { $path }：{ $n } 个错误
cli-form-key = 表单键：{ $key }
cli-form-version-setting = 版本设置：{ $version }
cli-form-default-language = { $language }（默认）
cli-form-languages = 语言：{ $languages }
cli-form-choice-lists = 选项列表：{ $lists }
cli-form-elements = 元素：{ $n } 个（其中 { $answers } 个需作答）

## 错误（sync-server/src/cli_errors.rs）：操作者造成的错误，其余按类别。

cli-entity-console-user = 控制台用户
cli-entity-enrolment-code = 注册码
cli-entity-tenant = 租户
cli-entity-device = 设备
cli-entity-scope = 范围
cli-entity-user = 用户
cli-err-not-found = 找不到{ $kind } { $id }
cli-err-exists = { $kind } { $id } 已存在
cli-err-closed = 存储正在关闭
cli-err-database = 数据库错误：{ $detail }
cli-err-files = 文件错误：{ $detail }
cli-err-tls = TLS 错误：{ $detail }
cli-err-invalid = 无效操作：{ $detail }
cli-s3-secret-missing = 使用 --s3-endpoint 时需在环境变量 { $env } 中提供密钥
