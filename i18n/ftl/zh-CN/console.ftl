## 框架与登录

console-brand-title = fieldsync 后台
console-sign-in-title = 登录
console-username = 用户名
console-password = 密码
console-sign-in = 登录
console-sign-out = 退出
console-language = 语言
console-login-locked = 失败次数过多，请几分钟后再试。
console-login-refused = 用户名或密码错误。

console-nav-overview = 总览
console-nav-responses = 问卷
console-nav-accounts = 客户
console-nav-commitments = 承诺事项
console-nav-cases = 投诉工单
console-nav-warnings = 预警
console-nav-devices = 设备
console-nav-forms = 表单
console-nav-users = 用户

## 拒绝与失败

console-request-failed = 请求失败。
console-not-found = 没有这条记录（或不在您的权限范围内）。
console-forbidden = 您的角色无权访问此页面或执行此操作。
console-csrf = 此表单已过期或并非来自控制台。请刷新页面后重试。
console-unavailable = 存储不可用。
console-render-failed = 页面无法显示。
console-unknown-decision = 未知的审核决定。
console-comment-too-long = 备注最多 2,000 个字符。
console-review-failed = 审核结果未能保存。
console-no-device = 没有这台设备。
console-no-public-address = 此服务器未配置公网地址。
console-file-too-large = 文件过大。

## 总览

console-overview-title = 总览
console-filter-from = 开始日期
console-filter-to = 结束日期
console-filter-region = 区域
console-filter-form = 表单
console-filter-segment = 客户类型
console-filter-customers = 客户
console-filter-depth = 区域层级
console-filter-period = 周期
console-filter-band = 分档
console-filter-status = 状态
console-filter-enumerator = 调查员
console-filter-sort = 排序
console-all = 全部
console-core = 核心
console-ordinary = 普通
console-period-month = 月
console-period-quarter = 季度
console-apply = 应用
console-filter = 筛选
console-card-responses = 问卷数
console-card-high = 满意（8–10）
console-card-middle = 基本满意（5–7）
console-card-low = 不满意（1–4）
console-card-mean = 平均分
console-all-responses = 全部问卷
console-core-customers = 核心客户
console-ordinary-customers = 普通客户
console-table-by-dimension = 按维度
console-table-by-segment = 按客户类型
console-table-by-core = 核心与普通客户
console-table-by-tier = 按价值层级
console-table-by-region = 按区域
console-table-by-period = 按周期
console-col-group = 分组
console-col-n = 样本数
console-col-high = 满意
console-col-middle = 基本满意
console-col-low = 不满意
console-col-mean = 平均分
console-chart-by-dimension = 各维度满意度
console-chart-by-segment = 各类客户满意度
console-chart-by-region = 各区域满意度
console-chart-by-period = 各周期满意度
console-exports = 导出上述表单的问卷：
console-export-csv = CSV
console-export-csv-labels = 带标签的 CSV
console-export-xlsx = XLSX
console-export-xlsx-labels = 带标签的 XLSX

## 问卷列表

console-responses-title = 问卷
console-sort-newest = 最新在前
console-sort-oldest = 最早在前
console-sort-lowest = 最低分在前
console-sort-highest = 最高分在前
console-col-started = 开始时间
console-col-status = 状态
console-col-region = 区域
console-col-segment = 客户类型
console-col-overall = 总体评分
console-col-band = 分档
console-col-enumerator = 调查员
console-core-flag = 核心
console-conflicts-count = { $n } 处冲突
console-no-responses = 没有符合条件的问卷。
console-next-page = 下一页

## 单份问卷

console-response-title = 问卷详情
console-fact-status = 状态
console-fact-scope = 范围
console-fact-region = 区域
console-fact-segment = 客户类型
console-fact-enumerator = 调查员
console-fact-started = 开始时间
console-fact-completed = 完成时间
console-core-customer = 核心客户
console-comment = 备注
console-approve = 通过
console-needs-follow-up = 需回访
console-reject = 驳回
console-comment-only = 仅备注
console-answers = 答案
console-col-question = 题目
console-col-answer = 回答
console-col-history = 修改记录
console-history-entry = { $time }，{ $user }，设备 { $device }
console-unknown-user = 未知
console-unknown-device = 未知设备
console-repeat-instances = 重复组 { $name }：{ $n } 条。
console-conflicts = 冲突
console-col-field = 字段
console-col-winner = 各处显示的值
console-col-others = 其他并发值
console-review = 审核
console-no-review = 尚未审核。
console-points = { $n } 个点
console-bytes = { $n } 字节
console-message-reviewed = 审核已保存，调查员的设备下次同步时即可收到。
console-message-empty-comment = 请填写备注，或选择一个审核决定。
console-message-refused = 修改被拒绝（{ $reason }）。

## 客户、拜访、承诺

console-accounts-title = 客户
console-account-title = 客户详情
console-col-account = 客户
console-col-owner = 负责人
console-no-accounts = 您的权限范围内没有客户。
console-visits = 拜访
console-col-planned = 计划时间
console-col-purpose = 目的
console-col-checked-in = 签到时间
console-col-open-commitments = 未完成承诺
console-open-commitments = 未完成承诺
console-commitments-title = 未完成承诺
console-col-due = 到期
console-col-commitment = 承诺内容
console-past-due = 已逾期
console-refund = 退费/补偿
console-no-commitments = 没有未完成的承诺。

## 投诉工单

console-cases-title = 投诉工单
console-card-cases = 工单数
console-card-open = 处理中
console-card-overdue = 已超时
console-card-closed = 已关闭
console-card-fcr = 首问解决率
console-time-first-response = 首次响应时长
console-time-close = 结案时长
console-after-resolution = 处理后满意度
console-after-resolution-figures = { $mean }（样本 { $n }；满意 { $high }，基本满意 { $middle }，不满意 { $low }）
console-hours = 中位数 { $median } 小时，平均 { $mean } 小时（样本 { $n }）
console-by-stage = 按环节
console-repeat-complaints = 重复投诉
console-col-customer = 客户
console-col-cases = 工单数
console-overdue = 已超时
console-col-received = 受理时间
console-col-category = 类别
console-col-stage = 环节
console-col-deadline = 时限

## 预警

console-warnings-title = 预警
console-nothing-to-act-on = 暂无需要处理的事项。
console-col-warning = 预警
console-col-when = 时间
console-col-figure = 数值
console-act = 处理

## 设备

console-devices-title = 设备
console-enrolment-code = 注册码
console-enrolment-one-use = 仅可使用一次；设备扫码后即为该用户注册。
console-col-user = 用户
console-valid-hours = 有效期（小时）
console-new-enrolment-code = 生成注册码
console-col-device = 设备
console-col-name = 名称
console-col-enrolled = 注册时间
console-col-last-sync = 最近同步
console-revoked = 已吊销
console-revoke = 吊销
console-message-revoked = 设备已吊销，下次连接时即被拒绝。
console-message-unknown-user = 没有这个用户。

## 表单

console-forms-title = 表单
console-xlsform-file = XLSForm 文件（.xlsx、.csv、.json）
console-check = 检查
console-import-errors = 导入错误
console-col-where = 位置
console-col-problem = 问题
console-col-code = 代码
console-warnings = 警告
console-form-summary = 表单键 { $key }，共 { $n } 个元素，语言：{ $languages }。
console-publish-to-scope = 发布到范围
console-publish = 发布为新版本
console-versions = 版本
console-col-form = 表单
console-col-version = 版本
console-col-title = 标题
console-col-published = 已发布
console-yes = 是
console-draft = 草稿
console-message-published = 已发布为第 { $version } 版。
console-message-no-file = 请选择要上传的文件。
console-message-not-xlsform = 该文件不是 XLSForm（.xlsx、.csv 或 .json）。
console-message-bad-form = 表单无法读取，请重新检查。

## 用户

console-users-title = 用户与授权
console-users-and-grants = 用户与授权
console-col-grants = 授权
console-user-id = 用户 ID
console-add-user = 添加用户
console-scope = 范围
console-new-scope = 或新范围
console-read = 读
console-write = 写
console-set-grant = 设置授权
console-console-accounts = 控制台账号
console-col-sign-in-name = 登录名
console-col-acts-as = 代表用户
console-col-role = 角色
console-disabled = 已停用
console-add-console-account = 添加控制台账号
console-message-user-added = 用户已添加。
console-message-user-not-added = 用户未能添加（ID 可能已存在）。
console-message-scope-not-added = 范围未能添加。
console-message-unknown-scope = 没有这个范围。
console-message-grant-set = 授权已设置。
console-message-grant-not-set = 授权未能设置。
console-message-bad-role = 未知角色。
console-message-weak-password = 密码至少 10 个字符。
console-message-console-user-added = 控制台账号已添加。
console-message-console-user-not-added = 控制台账号未能添加（登录名可能已存在）。
console-message-other = 完成（{ $code }）。

## 导出列标题（标签模式；名称模式保留 `_id`、`_status` 等）

export-col-id = 问卷 ID
export-col-form-key = 表单
export-col-form-version = 表单版本
export-col-status = 状态
export-col-region = 区域
export-col-segment = 客户类型代码
export-col-value-tier = 价值层级代码
export-col-core = 核心客户标记（1/0）
export-col-customer-id = 客户编号
export-col-enumerator = 调查员
export-col-started-at = 开始时间（UTC）
export-col-completed-at = 完成时间（UTC）
export-col-overall = 总体评分
export-col-band = 分档
export-col-instance = 序号
export-col-instance-id = 条目 ID
