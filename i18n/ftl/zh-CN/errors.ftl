## 应用通过 FFI 收到的错误的默认中文文本，按稳定代码查找。
## 参数只有 ID、字段路径和规则代码，从不包含问卷内容。

error-not-found = 找不到记录 { $id }（可能已被删除）。
error-validation = { $field }：{ $message }
error-immutable = 记录 { $id } 不可修改（已发布的表单版本是固定的）。
error-wrong-key = 此密钥无法打开本地存储。
error-corrupt = 记录 { $id } 已损坏并被隔离，存储的其余部分仍可使用。
error-store-moved-aside = 存储文件已损坏，已移至 { $moved_to }，未删除任何数据。
error-storage-full = 存储空间已满。数据没有丢失，请释放空间后重试。
error-read-only = 存储为只读。
error-storage = 存储出错（{ $message }）。
error-unauthorized = 服务器拒绝了此设备（{ $message }）。
error-network = 网络故障；修改已保留，稍后会自动发送（{ $message }）。
error-conflict = 记录冲突（{ $message }）。
error-invalid-argument = 参数无效（{ $message }）。
error-closed = 存储已关闭。
error-internal = 引擎内部错误（{ $message }），应用可继续运行。

## 校验规则（`validation` 的 `rule` 参数）

rule-required = 此项为必填
rule-score-out-of-range = 评分超出量表范围
rule-out-of-range = 数值超出范围
rule-too-long = 文字过长
rule-invalid-date = 日期无效
rule-invalid-time = 时间无效
rule-invalid-location = 坐标超出范围
rule-illegal-transition = 不允许这样变更状态
rule-immutable = 此字段不可修改
rule-duplicate = 该值已被使用
rule-unknown-question = 表单中没有此题目
rule-wrong-type = 回答的类型不正确
rule-no-answer = 此元素无需作答
rule-unpublished-form = 该表单版本尚未发布
